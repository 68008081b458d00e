package data

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/sky"
)

// surveyFixtures is testdata/surveys/surveys.json, what make_surveys.py
// wrote beside the FITS files (astropy's view of them).
type surveyFixtures struct {
	HSC struct {
		Object string     `json:"object"`
		RADec  [2]float64 `json:"radec"`
		Bands  map[string]struct {
			Pixel56   float64  `json:"pixel_5_6"`
			Masked    [][2]int `json:"masked"`
			Kept      [2]int   `json:"kept"`
			KeptValue float64  `json:"kept_value"`
			Variance  float64  `json:"variance"`
		} `json:"bands"`
		Filters map[string]string `json:"filters"`
	} `json:"hsc"`
	Filters struct {
		PlaneValue map[string]float64 `json:"plane_value"`
	} `json:"filters"`
}

func readSurveyFixtures(t *testing.T) (surveyFixtures, map[string]json.RawMessage) {
	t.Helper()
	b, err := os.ReadFile("testdata/surveys/surveys.json")
	if err != nil {
		t.Fatal(err)
	}
	var f surveyFixtures
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return f, raw
}

func surveyFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/surveys", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The HSC cutout service gives one band per file (IMAGE, MASK, VARIANCE):
// read as a band, never as g = IMAGE, r = MASK, i = VARIANCE; its bad MASK
// bits blanked; its three bands combined in g, r, i order.
func TestHSCCutoutBands(t *testing.T) {
	want, _ := readSurveyFixtures(t)
	if _, err := DecodeImage("hsc-g.fits", surveyFile(t, "hsc-g.fits"), ReadOptions{}); !errors.Is(err, ErrShape) || !errors.Is(err, ErrSingleBand) ||
		!strings.Contains(err.Error(), "one band of a cutout (filter HSC-G)") {
		t.Errorf("one HSC band read as a 3-band image: %v", err)
	}
	var bands []Band
	for _, b := range []string{"i", "g", "r"} { // any order
		band, err := DecodeBand("hsc-"+b+".fits", surveyFile(t, "hsc-"+b+".fits"))
		if err != nil {
			t.Fatal(err)
		}
		w := want.HSC.Bands[b]
		if band.Name != b || band.Filter != want.HSC.Filters[b] || band.H != 40 || band.W != 40 {
			t.Errorf("band %s read as %q (filter %q), %dx%d", b, band.Name, band.Filter, band.H, band.W)
		}
		if got := band.Pix[5*band.W+6]; float64(got) != w.Pixel56 {
			t.Errorf("band %s pixel (5, 6) = %g, astropy %g", b, got, w.Pixel56)
		}
		for _, m := range w.Masked {
			if v := band.Pix[m[0]*band.W+m[1]]; v != 0 {
				t.Errorf("band %s pixel %v flagged in MASK is %g, want 0", b, m, v)
			}
		}
		if v := band.Pix[w.Kept[0]*band.W+w.Kept[1]]; float64(v) != w.KeptValue {
			t.Errorf("band %s pixel %v flagged DETECTED only is %g, want %g kept", b, w.Kept, v, w.KeptValue)
		}
		if !strings.Contains(strings.Join(band.Meta.Notes, "; "), "3 pixels flagged NO_DATA, SAT, BAD in MASK set to 0") {
			t.Errorf("band %s notes %q", b, band.Meta.Notes)
		}
		bands = append(bands, band)
	}
	im, meta, err := CombineBands(bands, false)
	if err != nil {
		t.Fatal(err)
	}
	for c, b := range Bands {
		w := want.HSC.Bands[b]
		if got := im.At(c, 5, 6); float64(got) != w.Pixel56 {
			t.Errorf("combined plane %d (%s) pixel (5, 6) = %g, want band %s's %g", c, b, got, b, w.Pixel56)
		}
		// The masks and variances follow their bands, for display.
		if got := meta.Variance.At(c, 7, 7); meta.Variance.C != 3 || float64(got) != w.Variance {
			t.Errorf("combined variance plane %d (%s) = %g, want band %s's %g", c, b, got, b, w.Variance)
		}
		flagged := 0
		for _, v := range meta.Masked.Plane(c) {
			if v != 0 {
				flagged++
			}
		}
		if m := w.Masked[1]; meta.Masked.C != 3 || meta.Masked.At(c, m[0], m[1]) != 1 || meta.Masked.At(c, w.Kept[0], w.Kept[1]) != 0 || flagged != len(w.Masked) {
			t.Errorf("combined mask plane %d (%s): %d flagged", c, b, flagged)
		}
		if meta.Filters[c] != want.HSC.Filters[b] {
			t.Errorf("combined filters %v", meta.Filters)
		}
	}
	wantPos := sky.Position{RA: want.HSC.RADec[0], Dec: want.HSC.RADec[1]}
	if meta.Object != want.HSC.Object || meta.Position == nil || meta.PositionFrom != sky.FromWCS || sky.Separation(*meta.Position, wantPos) > 0.001 {
		t.Errorf("combined meta: object %q, position %v from %s; want %q at %v", meta.Object, meta.Position, meta.PositionFrom, want.HSC.Object, wantPos)
	}
	// The fixture's CD matrix: 0.168"/px, north up (+y), east left (-x).
	if o := meta.Orientation; o == nil || math.Abs(o.Scale-0.168) > 1e-6 || math.Abs(o.North[1]-1) > 1e-6 || math.Abs(o.East[0]+1) > 1e-6 {
		t.Errorf("combined orientation %+v, want 0.168\"/px, north (0, 1), east (-1, 0)", o)
	}

	// Not one object, or not g, r and i once each.
	moved := bands[2]
	p := sky.Position{RA: wantPos.RA, Dec: wantPos.Dec + 2.0/3600}
	moved.Meta.Position = &p
	other := bands[1]
	other.Meta.Object = "another"
	for _, tc := range []struct {
		name  string
		bands []Band
		want  string
	}{
		{"two g", []Band{bands[1], bands[1], bands[2]}, "want g, r and i once each"},
		{"two bands", bands[:2], "want g, r and i once each"},
		{"offset", []Band{bands[0], bands[1], moved}, "2.00 arcsec from the others"},
		{"objects", []Band{bands[0], other, bands[2]}, `"another"`},
	} {
		if _, _, err := CombineBands(tc.bands, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one naming %q", tc.name, err, tc.want)
		}
	}
}

// Legacy Surveys cubes name their bands (BANDS, BAND0..2): planes are
// reordered to g, r, i, and a cube without i (g, r, z) is refused by name.
func TestLegacySurveysCube(t *testing.T) {
	_, raw := readSurveyFixtures(t)
	var rig struct {
		RADec      [2]float64         `json:"radec"`
		PlaneValue map[string]float64 `json:"plane_value"`
	}
	if err := json.Unmarshal(raw["legacy-rig"], &rig); err != nil {
		t.Fatal(err)
	}
	im, meta, err := DecodeCutout("legacy-rig.fits", surveyFile(t, "legacy-rig.fits"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for c, b := range Bands {
		if got := im.At(c, 0, 0); float64(got) != rig.PlaneValue[b] {
			t.Errorf("plane %d (%s) = %g, want the file's %s plane, %g", c, b, got, b, rig.PlaneValue[b])
		}
	}
	if meta.Filters != [3]string{"g", "r", "i"} || !strings.Contains(strings.Join(meta.Notes, ";"), "reordered from bands r, i, g") {
		t.Errorf("filters %v, notes %q", meta.Filters, meta.Notes)
	}
	if p := (sky.Position{RA: rig.RADec[0], Dec: rig.RADec[1]}); meta.Position == nil || sky.Separation(*meta.Position, p) > 0.001 {
		t.Errorf("position %v, astropy %v", meta.Position, p)
	}
	if o := meta.Orientation; o == nil || math.Abs(o.Scale-0.262) > 1e-6 {
		t.Errorf("orientation %+v, want 0.262\"/px", o)
	}
	_, err = DecodeImage("legacy-grz.fits", surveyFile(t, "legacy-grz.fits"), ReadOptions{})
	if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "bands g, r, z (BANDS keyword)") || !strings.Contains(err.Error(), "z read as i, upload it with that choice") {
		t.Errorf("g, r, z cube: err %v", err)
	}
	// Asked for, the z plane is read as i, and the meta says so.
	var grz struct {
		PlaneValue map[string]float64 `json:"plane_value"`
	}
	if err := json.Unmarshal(raw["legacy-grz"], &grz); err != nil {
		t.Fatal(err)
	}
	im, meta, err = DecodeCutout("legacy-grz.fits", surveyFile(t, "legacy-grz.fits"), ReadOptions{ZAsI: true})
	if err != nil {
		t.Fatal(err)
	}
	for c, b := range []string{"g", "r", "z"} {
		if got := im.At(c, 0, 0); float64(got) != grz.PlaneValue[b] {
			t.Errorf("plane %d = %g, want the file's %s plane, %g", c, got, b, grz.PlaneValue[b])
		}
	}
	if meta.Substituted != SubstitutedZAsI || meta.Filters != [3]string{"g", "r", "z"} || !strings.Contains(strings.Join(meta.Notes, ";"), "z band is read as i") {
		t.Errorf("substituted %q, filters %v, notes %q", meta.Substituted, meta.Filters, meta.Notes)
	}
	// A file with an i band keeps it: the choice changes nothing there.
	if _, meta, err = DecodeCutout("legacy-rig.fits", surveyFile(t, "legacy-rig.fits"), ReadOptions{ZAsI: true}); err != nil || meta.Substituted != "" {
		t.Errorf("r, i, g cube with z_as_i: substituted %q, %v", meta.Substituted, err)
	}
}

// Three single-band HDUs named by FILTER alone are put in g, r, i order.
func TestFITSFilterKeywords(t *testing.T) {
	want, _ := readSurveyFixtures(t)
	im, meta, err := DecodeCutout("filters.fits", surveyFile(t, "filters.fits"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for c, b := range Bands {
		if got := im.At(c, 3, 3); float64(got) != want.Filters.PlaneValue[b] {
			t.Errorf("plane %d (%s) = %g, want %g", c, b, got, want.Filters.PlaneValue[b])
		}
	}
	if meta.Position != nil || meta.Filters != [3]string{"g", "r", "i"} {
		t.Errorf("meta %+v", meta)
	}
}

func TestBandLetter(t *testing.T) {
	for in, want := range map[string]string{
		"g": "g", "HSC-G": "g", "HSC-R2": "r", "HSC-I2": "i", "DECam z": "z", "SDSS_i": "i", "i'": "i",
		"Y": "y", "": "", "VIS": "", "g-r": "", "IMAGE": "",
	} {
		if got := bandLetter(in); got != want {
			t.Errorf("bandLetter(%q) = %q, want %q", in, got, want)
		}
	}
}
