package uploads

import (
	"os"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/uploads/uploadstest"
)

func hscBand(t *testing.T, b string) []byte {
	t.Helper()
	body, err := os.ReadFile("../data/testdata/surveys/hsc-" + b + ".fits")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// An HSC cutout-service download, one file per band, loose or zipped,
// becomes one cutout of the object with its name and position; a band
// alone is refused with the reason.
func TestSingleBandFilesCombined(t *testing.T) {
	s := newService(t, &stubModel{}, Limits{})
	zipped := uploadstest.Zip(t, uploadstest.Member{Name: "hsc/hsc-r.fits", Body: hscBand(t, "r")}, uploadstest.Member{Name: "hsc/hsc-g.fits", Body: hscBand(t, "g")},
		uploadstest.Member{Name: "hsc/hsc-i.fits", Body: hscBand(t, "i")})
	for _, parts := range [][]part{
		{{"hsc-i.fits", hscBand(t, "i")}, {"hsc-g.fits", hscBand(t, "g")}, {"hsc-r.fits", hscBand(t, "r")}},
		{{"hsc.zip", zipped}},
	} {
		ct, body := form(t, parts...)
		resp, err := s.Upload(ctx, "ann", ct, body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Accepted != 3 || resp.Rejected != 0 || len(resp.Uploads) != 1 {
			t.Fatalf("%d accepted, %d rejected, %d uploads: %+v", resp.Accepted, resp.Rejected, len(resp.Uploads), resp.Files)
		}
		u := resp.Uploads[0]
		if u.Name != "SuGOHI-test-gri.npy" || u.Object != "SuGOHI-test" || u.Position == nil || u.Position.From != "WCS" || u.Width != 40 {
			t.Errorf("combined upload %+v", u)
		}
		for _, f := range resp.Files {
			if f.Upload == nil || f.Upload.ID != u.ID || !strings.Contains(f.Note, "combined with") || !strings.Contains(f.Note, "into SuGOHI-test-gri.npy") {
				t.Errorf("band file %+v", f)
			}
		}
	}
	ct, body := form(t, part{"hsc-g.fits", hscBand(t, "g")}, part{"hsc-r.fits", hscBand(t, "r")})
	resp, err := s.Upload(ctx, "ann", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 0 || resp.Rejected != 2 || !strings.Contains(resp.Files[0].Error, "could not be combined with hsc-r.fits") ||
		!strings.Contains(resp.Files[0].Error, "want g, r and i") {
		t.Errorf("two bands: %+v", resp.Files)
	}
}
