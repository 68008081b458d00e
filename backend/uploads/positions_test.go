package uploads

import (
	"math"
	"os"
	"testing"
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
	if _, err := s.Upload(ctx, "ann", ct, body); err != nil {
		t.Fatal(err)
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
