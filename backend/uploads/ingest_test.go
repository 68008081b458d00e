package uploads

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/backend/uploads/uploadstest"
	"github.com/sslens/sslens/shared"
)

func TestSanitizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"good.npy", "good.npy"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\x\cut.fits`, "cut.fits"},
		{"/abs/path/", "unnamed"},
		{"..", "unnamed"},
		{".hidden.npy", "hidden.npy"},
		{"a\x00b\nc.npy", "abc.npy"},
		{strings.Repeat("é", 150) + ".npy", strings.Repeat("é", 98) + ".npy"},
		{strings.Repeat("x", 199) + "é.fits.gz", strings.Repeat("x", 192) + ".fits.gz"},
		{"a." + strings.Repeat("é", 150), "a." + strings.Repeat("é", 99)},
	}
	for _, tt := range tests {
		if got := sanitizeName(tt.in); got != tt.want {
			t.Errorf("sanitizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]string{"a.NPY": "npy", "a.fit.gz": "fits.gz", "a.fts": "fits", "a.jpeg": "jpeg",
		"a.npy.gz": "npy.gz", "a.zip": "zip", "a.gz": "", "notes.txt": ""} {
		if got := formatOf(name); got != want {
			t.Errorf("formatOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestUnzip(t *testing.T) {
	kb := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n<<10) }
	type m = uploadstest.Member
	tests := []struct {
		name    string
		archive []byte
		want    []string // member name, then its error ("" when kept), ...
	}{
		{"members", uploadstest.Zip(t, m{Name: "d/"}, m{Name: "../x/a.npy", Body: kb(1, 1)}, m{Name: "in.zip"}),
			[]string{"z.zip/a.npy", "", "z.zip/in.zip", "nested zip"}},
		{"counted as read", uploadstest.Zip(t, m{Name: "1.npy", Body: kb(400, 1)}, m{Name: "2.npy", Body: kb(400, 2)}, m{Name: "3.npy", Body: kb(400, 3)}),
			[]string{"z.zip/1.npy", "", "z.zip/2.npy", "", "z.zip/3.npy", "expands beyond 1 MB"}},
		{"bomb", uploadstest.Zip(t, m{Name: "bomb.npy", Body: kb(2048, 0)}), []string{"z.zip/bomb.npy", "expands beyond 1 MB"}},
		{"broken", []byte("PK nope"), []string{"z.zip", "not a readable zip"}},
		{"empty", uploadstest.Zip(t, m{Name: "d/"}), []string{"z.zip", "holds no files"}},
	}
	s := newService(t, nil, Limits{Files: 10, ZipBytes: 1 << 20})
	for _, tt := range tests {
		got := expand(t, s, "z.zip", tt.archive)
		if len(got) != len(tt.want)/2 {
			t.Errorf("%s: %d files, want %d", tt.name, len(got), len(tt.want)/2)
			continue
		}
		for i, f := range got {
			name, msg := tt.want[2*i], tt.want[2*i+1]
			if f.name != name || (msg == "") != (f.err == nil) || (f.err != nil && !strings.Contains(f.err.Error(), msg)) {
				t.Errorf("%s: file %d = %s %v, want %s %q", tt.name, i, f.name, f.err, name, msg)
			}
		}
	}
}

// TestUploadKeeps stores valid files' bytes once, each upload under its
// own name, and reports each rejected one; without a classifier nothing
// is scored.
func TestUploadKeeps(t *testing.T) {
	s := newService(t, nil, Limits{Files: 10, ZipBytes: 1 << 20})
	good := cutout(40, 1)
	ct, body := form(t, part{"a.npy", good}, part{"copy.npy", good}, part{"a.npy", good}, part{"tiny.npy", cutout(16, 2)}, part{"notes.txt", []byte("hi")})
	resp, err := s.Upload(ctx, "ann", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 3 || resp.Rejected != 2 || len(resp.Uploads) != 2 || resp.Files[1].Duplicate || !resp.Files[2].Duplicate ||
		resp.Files[2].Upload.ID != resp.Files[0].Upload.ID || resp.Files[1].Upload.Name != "copy.npy" {
		t.Fatalf("response %+v", resp)
	}
	if !strings.Contains(resp.Files[3].Error, "smaller than") || !strings.Contains(resp.Files[4].Error, "unsupported file type") {
		t.Errorf("rejections %+v", resp.Files[3:])
	}
	if resp.Scoring != shared.ScoringNoModel || !strings.Contains(resp.Message, "no model yet") {
		t.Errorf("scoring %q %q", resp.Scoring, resp.Message)
	}
	u, path, err := s.Stored(ctx, resp.Files[0].Upload.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, good) || !strings.Contains(path, "uploads/"+u.SHA256[:2]+"/"+u.SHA256+".npy") {
		t.Errorf("stored at %s: %v", path, err)
	}
	if _, copyPath, err := s.Stored(ctx, resp.Files[1].Upload.ID); err != nil || copyPath != path {
		t.Errorf("the copy's bytes at %s (%v), want shared %s", copyPath, err, path)
	}
	var ue *Error // tiny.npy is recorded next, as rejected
	if _, _, err := s.Stored(ctx, resp.Files[1].Upload.ID+1); !errors.As(err, &ue) || ue.Kind != Rejected || !strings.Contains(err.Error(), "smaller than") {
		t.Errorf("the rejected tiny.npy: %v", err)
	}
	if left, err := os.ReadDir(s.abs(incomingDir)); err != nil || len(left) != 0 {
		t.Errorf("left after the request: %v, %v", left, err)
	}
}

// TestUploadRefused refuses whole requests with the kind of answer each
// needs, storing nothing.
func TestUploadRefused(t *testing.T) {
	s := newService(t, nil, Limits{Files: 2, ZipBytes: 1 << 20})
	npy := cutout(40, 1)
	tests := []struct {
		name   string
		ct     string
		parts  []part
		kind   Kind
		target error // when kind is 0
	}{
		{"json", "application/json", nil, Unsupported, nil},
		{"no boundary", "multipart/form-data", nil, BadRequest, nil},
		{"no files", "", nil, BadRequest, nil},
		{"unexpected field", "", []part{{"a.npy", npy}, {"colour", []byte("red")}}, BadRequest, nil},
		{"too many files", "", []part{{"a.npy", npy}, {"b.npy", npy}, {"c.npy", npy}}, TooLarge, nil},
		{"bad checkpoint", "", []part{{"a.npy", npy}, {"checkpoint", []byte("x")}}, 0, store.ErrInvalid},
		{"unknown checkpoint", "", []part{{"a.npy", npy}, {"checkpoint", []byte("42")}}, 0, store.ErrInvalid},
	}
	for _, tt := range tests {
		ct, body := form(t, tt.parts...)
		if tt.ct != "" {
			ct = tt.ct
		}
		_, err := s.Upload(ctx, "ann", ct, body)
		var ue *Error
		if tt.kind != 0 && (!errors.As(err, &ue) || ue.Kind != tt.kind) || tt.kind == 0 && !errors.Is(err, tt.target) {
			t.Errorf("%s: %v (%#v)", tt.name, err, err)
		}
	}
	// The unknown checkpoint is found once the file is stored: the file is
	// kept, to be scored later.
	if sus, _ := s.st.Uploads(ctx, store.UploadFilter{}); len(sus) != 1 {
		t.Errorf("%d uploads kept, want 1", len(sus))
	}
	ct, body := form(t, part{"a.npy", npy})
	_, err := s.Upload(ctx, "ann", ct, http.MaxBytesReader(nil, io.NopCloser(body), 100))
	var ue *Error
	if !errors.As(err, &ue) || ue.Kind != TooLarge {
		t.Errorf("over the request limit: %v", err)
	}
}
