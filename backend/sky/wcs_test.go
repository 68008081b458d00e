package sky

import (
	"encoding/json"
	"errors"
	"math"
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

// Orientation against the closed form at the reference pixel of a TAN
// header, where the projection is locally its CD matrix: (east, north) =
// CD (dx, dy) in degrees, so north and east are the columns of CD's
// inverse, and the scale the root of |det CD|. Flipped parity (east to
// the right) and a rotation are both there.
func TestOrientation(t *testing.T) {
	for _, tc := range []struct {
		name           string
		scale, rot     float64 // arcsec per pixel, degrees
		flip           bool    // east along +x, as an image seen from behind
		north, east    [2]float64
		crval1, crval2 float64
	}{
		{"north up, east left", 0.168, 0, false, [2]float64{0, 1}, [2]float64{-1, 0}, 150, 2},
		{"east right", 0.262, 0, true, [2]float64{0, 1}, [2]float64{1, 0}, 30, -20},
		{"rotated 30 degrees, at Dec 60", 0.2, 30, false, [2]float64{-math.Sin(30 * deg), math.Cos(30 * deg)}, [2]float64{-math.Cos(30 * deg), -math.Sin(30 * deg)}, 210, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := math.Sincos(tc.rot * deg)
			sx := -1.0
			if tc.flip {
				sx = 1
			}
			d := tc.scale / 3600
			// CD = scale · R(rot) · diag(sx, 1): pixel x then rotated.
			h := map[string]any{"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 32.5, "CRPIX2": 32.5,
				"CRVAL1": tc.crval1, "CRVAL2": tc.crval2,
				"CD1_1": d * sx * c, "CD1_2": -d * s, "CD2_1": d * sx * s, "CD2_2": d * c}
			w, err := ParseWCS(mapHeader(h))
			if err != nil {
				t.Fatal(err)
			}
			o, err := w.Orientation(32.5, 32.5)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(o.Scale-tc.scale) > 1e-6 {
				t.Errorf("scale %v, want %v", o.Scale, tc.scale)
			}
			for _, v := range []struct {
				what      string
				got, want [2]float64
			}{{"north", o.North, tc.north}, {"east", o.East, tc.east}} {
				if math.Hypot(v.got[0]-v.want[0], v.got[1]-v.want[1]) > 1e-5 {
					t.Errorf("%s %v, want %v", v.what, v.got, v.want)
				}
			}
		})
	}
	// A degenerate matrix maps pixels to no area: an error, not NaNs.
	w, err := ParseWCS(mapHeader(map[string]any{"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 1.0, "CRPIX2": 1.0,
		"CRVAL1": 10.0, "CRVAL2": 10.0, "CD1_1": 1e-4, "CD1_2": 1e-4, "CD2_1": 1e-4, "CD2_2": 1e-4}))
	if err == nil {
		if _, err = w.Orientation(1, 1); err == nil {
			t.Error("a singular CD matrix has an orientation")
		}
	}
}
