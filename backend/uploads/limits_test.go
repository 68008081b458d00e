package uploads

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/backend/uploads/uploadstest"
)

// Many zip bombs in one request: the request is received to disk and its
// members read one at a time, so what it allocates stays near one file
// (FileBytes, with the buffer's growth) however many bombs it carries, and
// its expansion stops at ExpandBytes. Holding every member in memory, as
// the request was once read, allocates all 720 MB of them.
func TestUploadManyZipBombsStayBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("expands 256 MB")
	}
	s := newService(t, nil, Limits{})
	const member, bombs = 30 << 20, 12 // bytes of zeros, archives
	zeros := make([]byte, member)
	type m = uploadstest.Member
	bomb := uploadstest.Zip(t, m{Name: "a.npy", Body: zeros}, m{Name: "b.npy", Body: zeros})
	zeros = nil
	var parts []part
	for i := range bombs {
		parts = append(parts, part{fmt.Sprintf("bomb%d.zip", i), bomb})
	}
	ct, body := form(t, parts...)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := s.Upload(ctx, "ann", ct, body)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d archives of 2 x %d MB: %d MB allocated", bombs, member>>20, alloc>>20)
	if alloc > 2*uint64(DefaultLimits.FileBytes) {
		t.Errorf("the request allocated %d MB, want at most %d MB", alloc>>20, 2*DefaultLimits.FileBytes>>20)
	}
	read := int(DefaultLimits.ExpandBytes / member) // members expanded before the request's bound
	if len(resp.Files) != 2*bombs || resp.Accepted != 0 {
		t.Fatalf("%d files, %d accepted", len(resp.Files), resp.Accepted)
	}
	for i, f := range resp.Files {
		want := "the content is not a npy file"
		if i >= read {
			want = "the archives of this request expand beyond 256 MB"
		}
		if !strings.Contains(f.Error, want) {
			t.Errorf("file %d %s: %q, want %q", i, f.Name, f.Error, want)
		}
	}
}

// A member larger than one file may be is refused on its own, read no
// further than the bound.
func TestUploadMemberOverFileBytes(t *testing.T) {
	s := newService(t, nil, Limits{FileBytes: 1 << 20})
	type m = uploadstest.Member
	got := expand(t, s, "z.zip", uploadstest.Zip(t, m{Name: "big.npy", Body: make([]byte, 2<<20)}, m{Name: "ok.npy", Body: cutout(40, 1)}))
	if len(got) != 2 || got[0].err == nil || !strings.Contains(got[0].err.Error(), "larger than 1 MB once expanded") || got[1].err != nil {
		t.Errorf("members %+v", got)
	}
	ct, body := form(t, part{"big.npy", make([]byte, 2<<20)})
	if resp, err := s.Upload(ctx, "ann", ct, body); err != nil || !strings.Contains(resp.Files[0].Error, "larger than 1 MB") {
		t.Errorf("a part over the bound: %+v, %v", resp, err)
	}
}

// A user's requests in progress share one expansion budget; other users
// have their own, and every byte is given back when the requests end.
func TestUploadUserExpansionBudget(t *testing.T) {
	s := newService(t, nil, Limits{UserExpandBytes: 1 << 20})
	type m = uploadstest.Member
	archive := uploadstest.Zip(t, m{Name: "big.npy", Body: cutout(120, 1)}) // 169 KB
	held := s.users.take("ann", 900<<10)                                    // another request of ann's in progress
	upload := func(user string) string {
		t.Helper()
		ct, body := form(t, part{"cut.zip", archive})
		resp, err := s.Upload(ctx, user, ct, body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Files[0].Error
	}
	if e := upload("ann"); !strings.Contains(e, "your uploads in progress expand beyond 1 MB") {
		t.Errorf("over ann's budget: %q", e)
	}
	if e := upload("bob"); e != "" {
		t.Errorf("bob, within his own budget: %q", e)
	}
	s.users.give("ann", held)
	if e := upload("ann"); e != "" {
		t.Errorf("ann once her other request ended: %q", e)
	}
	if len(s.users.used) != 0 {
		t.Errorf("budgets still held after the requests: %v", s.users.used)
	}
}

// An archive with more entries than a request may hold files is refused
// from its end record, before its directory is read; zip64 end records
// count too.
func TestUploadZipEntries(t *testing.T) {
	s := newService(t, nil, Limits{Files: 5})
	type m = uploadstest.Member
	var six []m
	for i := range 6 {
		six = append(six, m{Name: fmt.Sprintf("%d.npy", i), Body: cutout(40, float32(i))})
	}
	ct, body := form(t, part{"six.zip", uploadstest.Zip(t, six...)})
	var ue *Error
	if _, err := s.Upload(ctx, "ann", ct, body); !errors.As(err, &ue) || ue.Kind != TooLarge {
		t.Errorf("six members with room for five: %v", err)
	}
	if ups, _ := s.st.Uploads(ctx, store.UploadFilter{}); len(ups) != 0 {
		t.Errorf("%d uploads kept from a refused request", len(ups))
	}

	many := make([]m, 70000) // over 65,535 entries: a zip64 end record
	for i := range many {
		many[i].Name = fmt.Sprint(i)
	}
	archive := uploadstest.Zip(t, many...)
	entries, _, err := zipEnd(bytes.NewReader(archive), int64(len(archive)))
	if err != nil || entries != 70000 {
		t.Fatalf("zip64 entries %d, %v", entries, err)
	}
	var many2 *tooManyEntries
	if _, err := s.openZip(bytes.NewReader(archive), int64(len(archive))); !errors.As(err, &many2) {
		t.Errorf("opening a zip64 archive of 70,000 entries: %v", err)
	}
}

// Each upload is judged by its own name and content: bytes refused under
// one name are accepted under another, by their uploader and by anyone,
// and a name that claims another format than the content's is refused.
func TestUploadJudgedByOwnName(t *testing.T) {
	s := newService(t, nil, Limits{})
	npy := cutout(40, 3)
	var pngb bytes.Buffer
	png.Encode(&pngb, image.NewRGBA(image.Rect(0, 0, 40, 40)))
	outcome := func(user string, p part) string {
		t.Helper()
		ct, body := form(t, p)
		resp, err := s.Upload(ctx, user, ct, body)
		if err != nil {
			t.Fatal(err)
		}
		if f := resp.Files[0]; f.Upload != nil {
			if f.Upload.Name != p.name || f.Upload.User != user {
				t.Errorf("%s's %s recorded as %+v", user, p.name, f.Upload)
			}
			return "accepted"
		}
		return resp.Files[0].Error
	}
	for _, tt := range []struct {
		user string
		p    part
		want string
	}{
		{"ann", part{"x.txt", npy}, "unsupported file type"},
		{"ann", part{"x.npy", npy}, "accepted"},
		{"bob", part{"y.npy", npy}, "accepted"},
		{"bob", part{"x.txt", npy}, "unsupported file type"},
		{"bob", part{"y.fits", npy}, "the content is not a fits file"},
		{"ann", part{"p.png", pngb.Bytes()}, "accepted"},
		{"bob", part{"p.jpg", pngb.Bytes()}, "the content is not a jpeg file"},
		{"bob", part{"empty.fits", nil}, "the file is empty (0 bytes)"},
	} {
		if got := outcome(tt.user, tt.p); !strings.Contains(got, tt.want) {
			t.Errorf("%s uploads %s: %q, want %q", tt.user, tt.p.name, got, tt.want)
		}
	}
	ups, err := s.st.Uploads(ctx, store.UploadFilter{User: "bob"})
	if err != nil || len(ups) != 1 || ups[0].Name != "y.npy" {
		t.Errorf("bob's uploads: %+v, %v", ups, err)
	}
	if _, err := os.Stat(s.abs(ups[0].Path)); err != nil {
		t.Error(err)
	}
}
