package uploads

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/sky"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// A FITS cutout's WCS gives the upload its position, shown sexagesimal;
// another file at the same position (within 1") is flagged on both, and
// files without one (npy) have none.
func TestUploadPositions(t *testing.T) {
	s := newService(t, &stubModel{}, Limits{})
	fits, err := os.ReadFile("../data/testdata/surveys/legacy-rig.fits")
	if err != nil {
		t.Fatal(err)
	}
	// The same header over other pixels: another file of the same object.
	other := append([]byte(nil), fits...)
	other[len(other)-5000] ^= 0x01
	ct, body := form(t, part{"a.fits", fits}, part{"b.fits", other}, part{"c.npy", cutout(40, 1)})
	resp, err := s.Upload(ctx, "ann", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range resp.Uploads { // the answer shows what the list will
		if u.Position != nil && (u.Position.Sexagesimal == "" || len(u.SamePosition) != 1) {
			t.Errorf("the upload's answer: %+v", u)
		}
	}
	ups, _, err := s.List(ctx, "ann", 0)
	if err != nil || len(ups) != 3 {
		t.Fatalf("%d uploads, %v", len(ups), err)
	}
	byName := map[string]int{}
	for i, u := range ups {
		byName[u.Name] = i
	}
	a, b, c := ups[byName["a.fits"]], ups[byName["b.fits"]], ups[byName["c.npy"]]
	// astropy puts the centre of legacy-rig.fits at (200.5, 40.25) give or
	// take the offset of its reference pixel (make_surveys.py).
	if p := a.Position; p == nil || math.Abs(p.RA-200.5) > 0.001 || math.Abs(p.Dec-40.25) > 0.001 || p.From != "WCS" ||
		p.Sexagesimal[:8] != "13:22:00" {
		t.Errorf("a.fits position %+v", a.Position)
	}
	// Its WCS's orientation: 0.262"/px, north along +y, east along -x.
	if o := a.Position.Orientation; o == nil || math.Abs(o.Scale-0.262) > 1e-6 || math.Abs(o.North[1]-1) > 1e-6 || math.Abs(o.East[0]+1) > 1e-6 {
		t.Errorf("a.fits orientation %+v", o)
	}
	if len(a.SamePosition) != 1 || a.SamePosition[0] != b.ID || len(b.SamePosition) != 1 || b.SamePosition[0] != a.ID {
		t.Errorf("same position: a %v, b %v (ids %d, %d)", a.SamePosition, b.SamePosition, a.ID, b.ID)
	}
	if c.Position != nil || c.SamePosition != nil {
		t.Errorf("an npy has a position: %+v", c)
	}
	// Another user's listing flags the match across users too.
	ct, body = form(t, part{"mine.fits", fits})
	if _, err := s.Upload(ctx, "bob", ct, body); err != nil {
		t.Fatal(err)
	}
	if bob, _, _ := s.List(ctx, "bob", 0); len(bob) != 1 || len(bob[0].SamePosition) != 2 {
		t.Errorf("bob's upload: %+v", bob)
	}
}

// A catalogue CSV beside npy cutouts gives them positions (degrees or
// sexagesimal); its bad rows are reported one by one and the good ones
// used; a FITS file's own WCS wins over its row; a catalogue without the
// columns is refused whole.
func TestCatalogue(t *testing.T) {
	s := newService(t, &stubModel{}, Limits{})
	fits, err := os.ReadFile("../data/testdata/surveys/legacy-rig.fits")
	if err != nil {
		t.Fatal(err)
	}
	csv := "Name,RA,Dec,object\n" +
		"a.npy,150.1163,2.2058,lens A\n" +
		"b.npy,10:00:27.91,+02:12:20.9,\n" +
		"c.npy,abc,1.0,\n" +
		"d.npy,10.0,95.0,\n" +
		"w.fits,1.0,1.0,\n"
	ct, body := form(t, part{"cands.csv", []byte(csv)}, part{"a.npy", cutout(40, 1)}, part{"b.npy", cutout(40, 2)},
		part{"c.npy", cutout(40, 3)}, part{"w.fits", fits})
	resp, err := s.Upload(ctx, "ann", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	var catErr string
	got := map[string]*shared.Upload{}
	for _, f := range resp.Files {
		if f.Name == "cands.csv" {
			catErr = f.Error
		}
		got[f.Name] = f.Upload
	}
	for _, want := range []string{"catalogue of 3 positions", "2 rows refused", `row 4 (c.npy): ra "abc"`, "row 5 (d.npy): ra 10, dec 95 is not a sky position"} {
		if !strings.Contains(catErr, want) {
			t.Errorf("catalogue answer %q lacks %q", catErr, want)
		}
	}
	a, b, c, w := got["a.npy"], got["b.npy"], got["c.npy"], got["w.fits"]
	if a == nil || a.Position == nil || a.Object != "lens A" || a.Position.From != "catalogue cands.csv" {
		t.Fatalf("a.npy: %+v", a)
	}
	if b == nil || b.Position == nil || sky.Separation(sky.Position{RA: a.Position.RA, Dec: a.Position.Dec}, sky.Position{RA: b.Position.RA, Dec: b.Position.Dec}) > 0.2 {
		t.Errorf("b.npy (sexagesimal row): %+v", b.Position)
	}
	if c == nil || c.Position != nil {
		t.Errorf("c.npy (refused row) has a position: %+v", c)
	}
	if w == nil || w.Position == nil || w.Position.From != "WCS" {
		t.Errorf("w.fits: its own WCS should win: %+v", w.Position)
	}
	ct, body = form(t, part{"bad.csv", []byte("file,x,y\na.npy,1,2\n")})
	if resp, err = s.Upload(ctx, "ann", ct, body); err != nil || resp.Rejected != 1 || !strings.Contains(resp.Files[0].Error, `no "name" column`) {
		t.Errorf("catalogue without columns: %+v, %v", resp.Files, err)
	}
}

// A Legacy Surveys g, r, z cube is refused with a hint; uploaded with
// z_as_i it is kept as the image read (z in the i plane), named so, with
// its WCS position and a warning every listing carries.
func TestZAsI(t *testing.T) {
	s := newService(t, &stubModel{}, Limits{})
	grz, err := os.ReadFile("../data/testdata/surveys/legacy-grz.fits")
	if err != nil {
		t.Fatal(err)
	}
	ct, body := form(t, part{"grz.fits", grz})
	resp, err := s.Upload(ctx, "ann", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	if f := resp.Files[0]; f.Upload != nil || !strings.Contains(f.Error, "bands g, r, z") || !strings.Contains(f.Error, "upload it with that choice") {
		t.Errorf("without the choice: %+v", f)
	}
	ct, body = form(t, part{"grz.fits", grz}, part{"z_as_i", []byte("true")})
	if resp, err = s.Upload(ctx, "ann", ct, body); err != nil {
		t.Fatal(err)
	}
	f := resp.Files[0]
	if f.Name != "grz.fits" || f.Upload == nil || f.Upload.Name != "grz-z_as_i.npy" || f.Upload.BandWarning != "z as i" ||
		!strings.Contains(f.Note, "z band read as i, as asked") {
		t.Fatalf("with the choice: %+v", f)
	}
	if f.Upload.Position == nil || f.Upload.Position.From != "WCS" || math.Abs(f.Upload.Position.RA-35.2) > 0.01 ||
		len(resp.Uploads) != 1 || resp.Uploads[0].BandWarning != "z as i" {
		t.Errorf("the kept cutout: position %+v, uploads %+v", f.Upload.Position, resp.Uploads)
	}
	ups, _, err := s.List(ctx, "ann", 0)
	if err != nil || len(ups) != 1 || ups[0].BandWarning != "z as i" {
		t.Errorf("listing: %+v, %v", ups, err)
	}
	// The stored cutout holds z in the i plane.
	_, p, err := s.Stored(ctx, ups[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	im, err := data.ReadImage(p, data.ReadOptions{})
	if err != nil || im.At(2, 0, 0) != 30 || im.At(0, 0, 0) != 10 {
		t.Errorf("stored planes g %v, i %v (%v); want 10 and the z plane's 30", im.At(0, 0, 0), im.At(2, 0, 0), err)
	}
	ct, body = form(t, part{"grz.fits", grz}, part{"z_as_i", []byte("maybe")})
	if _, err := s.Upload(ctx, "ann", ct, body); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "z_as_i") {
		t.Errorf("z_as_i=maybe: %v", err)
	}
}
