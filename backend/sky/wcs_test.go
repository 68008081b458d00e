package sky

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// mapHeader serves a header held in a map.
func mapHeader(m map[string]any) Header {
	return func(key string) (any, bool) { v, ok := m[key]; return v, ok }
}

// Every projection, matrix form, SIP, LONPOLE, galactic and FK5 case of
// testdata/wcs.json (written by astropy: make_wcs.py) to 1 mas.
func TestWCSMatchesAstropy(t *testing.T) {
	b, err := os.ReadFile("testdata/wcs.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name   string         `json:"name"`
		Header map[string]any `json:"header"`
		Pixels [][2]float64   `json:"pixels"`
		RADec  [][2]float64   `json:"radec"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("%d cases", len(cases))
	}
	for _, c := range cases {
		w, err := ParseWCS(mapHeader(c.Header))
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		tol := 0.001 // arcsec
		if strings.HasPrefix(c.Name, "galactic") || strings.HasPrefix(c.Name, "fk5") {
			tol = 0.05 // astropy's galactic and FK5 frames differ from the Hipparcos rotation and ICRS by tens of mas
		}
		for k, p := range c.Pixels {
			got := w.PixelToSky(p[0], p[1])
			want := Position{RA: c.RADec[k][0], Dec: c.RADec[k][1]}
			if d := Separation(got, want); !(d < tol) {
				t.Errorf("%s, pixel %v: %v, astropy %v: %.4f\" apart", c.Name, p, got, want, d)
			}
		}
	}
}

func TestParseWCSRejects(t *testing.T) {
	base := map[string]any{"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 10.0, "CRVAL2": 5.0,
		"CRPIX1": 1.0, "CRPIX2": 1.0, "CD1_1": -1e-4, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 1e-4}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for key, val := range base {
			m[key] = val
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		h    map[string]any
		want string
	}{
		{"no wcs", map[string]any{"NAXIS": 2}, "no celestial WCS"},
		{"pixel axes only", map[string]any{"CTYPE1": "LINEAR", "CTYPE2": "LINEAR"}, "no celestial WCS"},
		{"projection", with("CTYPE1", "RA---AIT"), `projection "AIT"`},
		{"tpv", with("CTYPE1", "RA---TPV"), `projection "TPV"`},
		{"pv", with("PV2_1", 0.5), "PV2_1"},
		{"fk4", with("RADESYS", "FK4"), "FK4"},
		{"b1950", with("EQUINOX", 1950.0), "1950"},
		{"units", with("CUNIT1", "arcsec"), "CUNIT1"},
		{"singular", with("CD2_2", 0.0), "singular"},
		{"swapped", with("CTYPE1", "DEC--TAN"), "latitude on the first axis"},
		{"mixed", with("CTYPE2", "GLAT-TAN"), "mix"},
	} {
		_, err := ParseWCS(mapHeader(tc.h))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one naming %q", tc.name, err, tc.want)
		}
		if tc.want == "no celestial WCS" && !errors.Is(err, ErrNoWCS) {
			t.Errorf("%s: err %v is not ErrNoWCS", tc.name, err)
		}
	}
}
