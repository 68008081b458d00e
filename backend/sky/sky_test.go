package sky

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestSeparation(t *testing.T) {
	for _, tc := range []struct {
		a, b Position
		want float64 // arcsec
	}{
		{Position{10, 0}, Position{10, 1}, 3600},
		{Position{359.9999, 0}, Position{0.0001, 0}, 0.72},
		{Position{0, 89.9999}, Position{180, 89.9999}, 0.72},
		{Position{0, 0}, Position{180, 0}, 180 * 3600},
		{Position{150, 2}, Position{150, 2}, 0},
	} {
		if got := Separation(tc.a, tc.b); math.Abs(got-tc.want) > 1e-6*max(1, tc.want) {
			t.Errorf("Separation(%v, %v) = %.9g\", want %g", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSexagesimal(t *testing.T) {
	for _, tc := range []struct {
		p    Position
		want string
	}{
		{Position{150.1163, 2.2058}, "10:00:27.91 +02:12:20.9"},
		{Position{0, -0.5}, "00:00:00.00 -00:30:00.0"},
		{Position{359.99999999, -89.99999999}, "00:00:00.00 -90:00:00.0"},
		{Position{15.0, 45.999999}, "01:00:00.00 +46:00:00.0"},
	} {
		if got := tc.p.Sexagesimal(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestHeaderPosition(t *testing.T) {
	wcs := map[string]any{"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.0,
		"CRPIX1": 32.5, "CRPIX2": 32.5, "CD1_1": -4.7e-5, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 4.7e-5, "RA": 1.0, "DEC": 1.0}
	p, src, err := HeaderPosition(mapHeader(wcs), 64, 64)
	if err != nil || src != FromWCS || Separation(p, Position{150, 2}) > 1e-6 {
		t.Errorf("WCS centred on its reference pixel: %v from %s, %v", p, src, err)
	}
	for _, tc := range []struct {
		name string
		h    map[string]any
		want Position
		src  Source
	}{
		{"degrees", map[string]any{"RA": 150.5, "DEC": -2.25}, Position{150.5, -2.25}, FromKeywords},
		{"sexagesimal", map[string]any{"RA": "10:02:00.0", "DEC": "-02:15:00"}, Position{150.5, -2.25}, FromKeywords},
		{"object keywords", map[string]any{"OBJRA": "10 02 00", "OBJDEC": "+02 15 00"}, Position{150.5, 2.25}, FromObject},
	} {
		p, src, err := HeaderPosition(mapHeader(tc.h), 64, 64)
		if err != nil || src != tc.src || Separation(p, tc.want) > 1e-6 {
			t.Errorf("%s: %v from %s, %v; want %v from %s", tc.name, p, src, err, tc.want, tc.src)
		}
	}
	for _, tc := range []struct {
		name string
		h    map[string]any
		want string
	}{
		{"nothing", map[string]any{"OBJECT": "x"}, "no WCS"},
		{"bad wcs is not skipped", map[string]any{"CTYPE1": "RA---AIT", "CTYPE2": "DEC--AIT", "RA": 1.0, "DEC": 1.0}, "AIT"},
		{"dec out of range", map[string]any{"RA": 10.0, "DEC": 95.0}, "not a sky position"},
		{"minutes out of range", map[string]any{"RA": "10:75:00", "DEC": "0"}, `RA = "10:75:00"`},
		{"ra without dec", map[string]any{"RA": 10.0}, "DEC is missing"},
		{"fk4", map[string]any{"RA": 10.0, "DEC": 1.0, "EQUINOX": 1950.0}, "FK4"},
	} {
		_, _, err := HeaderPosition(mapHeader(tc.h), 64, 64)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one naming %q", tc.name, err, tc.want)
		}
		if tc.name == "nothing" && !errors.Is(err, ErrNoPosition) {
			t.Errorf("%s: err %v is not ErrNoPosition", tc.name, err)
		}
	}
}
