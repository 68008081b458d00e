package sky

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Source says where a header's position came from.
type Source string

const (
	FromWCS      Source = "WCS"          // the WCS at the image centre
	FromKeywords Source = "RA/DEC"       // RA and DEC keywords
	FromObject   Source = "OBJRA/OBJDEC" // the target's keywords
)

// ErrNoPosition: the header holds neither a celestial WCS nor position
// keywords.
var ErrNoPosition = errors.New("no WCS and no RA/DEC or OBJRA/OBJDEC keywords")

// HeaderPosition returns the sky position of an image of width x height
// pixels from its header: its WCS at the image centre, else the RA and
// DEC keywords, else OBJRA and OBJDEC (degrees, or sexagesimal strings with
// RA in hours). A WCS that is there but cannot be read is an error, not a
// silent fall back to keywords.
func HeaderPosition(h Header, width, height int) (Position, Source, error) {
	w, err := ParseWCS(h)
	switch {
	case err == nil:
		p := w.PixelToSky(float64(width+1)/2, float64(height+1)/2)
		if !p.Valid() {
			return Position{}, "", fmt.Errorf("the WCS gives %v at the image centre, not a sky position", p)
		}
		return p, FromWCS, nil
	case !errors.Is(err, ErrNoWCS):
		return Position{}, "", err
	}
	for _, keys := range []struct {
		ra, dec string
		src     Source
	}{{"RA", "DEC", FromKeywords}, {"OBJRA", "OBJDEC", FromObject}} {
		_, hasRA := h(keys.ra)
		_, hasDec := h(keys.dec)
		if !hasRA && !hasDec {
			continue
		}
		ra, err := angle(h, keys.ra, 15)
		if err != nil {
			return Position{}, "", err
		}
		dec, err := angle(h, keys.dec, 1)
		if err != nil {
			return Position{}, "", err
		}
		if err := equatorial(h); err != nil {
			return Position{}, "", err
		}
		p := Position{RA: ra, Dec: dec}
		if !p.Valid() {
			return Position{}, "", fmt.Errorf("%s = %g, %s = %g: not a sky position (RA in [0, 360), Dec in [-90, 90])", keys.ra, ra, keys.dec, dec)
		}
		return p, keys.src, nil
	}
	return Position{}, "", ErrNoPosition
}

// angle reads keyword key as degrees: a number, or a sexagesimal string
// "a:b:c" or "a b c" whose first field is in units of hours (unit 15) or
// degrees (unit 1).
func angle(h Header, key string, unit float64) (float64, error) {
	v, ok := h(key)
	if !ok {
		return 0, fmt.Errorf("%s is missing", key)
	}
	if x, ok := num(h, key, 0); ok {
		return x, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return 0, fmt.Errorf("%s = %v: want degrees or a sexagesimal string", key, v)
	}
	x, err := ParseSexagesimal(strings.TrimSpace(s), unit)
	if err != nil {
		return 0, fmt.Errorf("%s = %q: %w", key, s, err)
	}
	return x, nil
}

// ParseSexagesimal reads "dd:mm:ss.s", "dd mm ss.s" or a plain number,
// with an optional sign, as degrees; the first field is in units of unit
// degrees (15 for hours of right ascension, 1 for degrees).
func ParseSexagesimal(s string, unit float64) (float64, error) {
	neg := strings.HasPrefix(s, "-")
	fields := strings.FieldsFunc(strings.TrimLeft(s, "+-"), func(r rune) bool { return r == ':' || r == ' ' })
	if len(fields) == 0 || len(fields) > 3 {
		return 0, errors.New("want one to three fields, a:b:c")
	}
	total := 0.0
	for i, f := range fields {
		x, err := strconv.ParseFloat(f, 64)
		if err != nil || x < 0 || math.IsInf(x, 0) || (i > 0 && x >= 60) {
			return 0, fmt.Errorf("field %q is not a number in range", f)
		}
		total += x / math.Pow(60, float64(i))
	}
	if neg {
		total = -total
	}
	return total * unit, nil
}
