// Package sky holds sky positions: reading them from a FITS header's world
// coordinate system (WCS) or position keywords, formatting them as
// astronomers write them, and the angle between two of them.
//
// Positions are ICRS right ascension and declination in degrees. A FITS
// WCS (Greisen & Calabretta 2002; Calabretta & Greisen 2002) maps 1-based
// pixel coordinates (the centre of the first pixel is (1, 1)) to the sky:
// CRPIX, then the CD matrix (or PC times CDELT) to intermediate world
// coordinates, a projection (TAN, SIN, ARC, STG, ZEA, CAR; TAN-SIP
// distortions) to native spherical coordinates, and the rotation that puts
// the reference point at CRVAL. Equatorial systems (ICRS, and FK5 J2000,
// which agrees with ICRS to about 20 mas) and galactic coordinates are
// read; FK4 and other equinoxes are refused by name.
package sky

import (
	"fmt"
	"math"
)

// Position is a point on the sky, ICRS, degrees.
type Position struct {
	RA, Dec float64
}

const deg = math.Pi / 180

// Separation returns the angle between a and b in arcseconds (the Vincenty
// formula: accurate at every separation).
func Separation(a, b Position) float64 {
	dra := (b.RA - a.RA) * deg
	s1, c1 := math.Sincos(a.Dec * deg)
	s2, c2 := math.Sincos(b.Dec * deg)
	sd, cd := math.Sincos(dra)
	num := math.Hypot(c2*sd, c1*s2-s1*c2*cd)
	return math.Atan2(num, s1*s2+c1*c2*cd) / deg * 3600
}

// Sexagesimal writes p as "hh:mm:ss.ss +dd:mm:ss.s": right ascension in
// hours to 0.01 s (0.15"), declination to 0.1".
func (p Position) Sexagesimal() string {
	ra := math.Mod(p.RA, 360)
	if ra < 0 {
		ra += 360
	}
	// Round once at the last digit written, so 59.999 s never prints as 60.
	cs := int64(math.Round(ra / 15 * 3600 * 100)) // hundredths of a second of time
	cs %= 24 * 3600 * 100
	h, m, s := cs/360000, cs/6000%60, float64(cs%6000)/100
	sign := "+"
	if p.Dec < 0 {
		sign = "-"
	}
	ds := int64(math.Round(math.Abs(p.Dec) * 3600 * 10)) // tenths of an arcsecond
	d, dm, dsec := ds/36000, ds/600%60, float64(ds%600)/10
	return fmt.Sprintf("%02d:%02d:%05.2f %s%02d:%02d:%04.1f", h, m, s, sign, d, dm, dsec)
}

// Valid reports whether p is a position: finite, RA in [0, 360), Dec in
// [-90, 90].
func (p Position) Valid() bool {
	return p.RA >= 0 && p.RA < 360 && p.Dec >= -90 && p.Dec <= 90
}
