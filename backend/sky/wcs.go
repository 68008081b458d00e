package sky

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Header looks a keyword up in a FITS header: its value (string, float64,
// int or bool, as FITS readers give them) and whether it is there.
type Header func(key string) (any, bool)

// ErrNoWCS: the header has no celestial WCS (no RA/DEC or GLON/GLAT axes).
var ErrNoWCS = errors.New("no celestial WCS")

// WCS is the celestial world coordinate system of a 2-d FITS image.
type WCS struct {
	crpix    [2]float64
	cd       [2][2]float64 // degrees per pixel
	proj     string        // TAN, SIN, ARC, STG, ZEA or CAR
	sipA     map[[2]int]float64
	sipB     map[[2]int]float64
	galactic bool
	// The native longitude of the celestial pole and the celestial
	// coordinates of the native pole, degrees.
	phiP, alphaP, deltaP float64
}

// zenithal projections put the reference point at the native pole.
var zenithal = map[string]bool{"TAN": true, "SIN": true, "ARC": true, "STG": true, "ZEA": true}

// ParseWCS reads the celestial WCS of a 2-d image from its header. A header
// without one gives ErrNoWCS; one sslens cannot evaluate (another
// projection, PV distortion parameters, FK4) an error naming the keyword.
func ParseWCS(h Header) (*WCS, error) {
	c1, c2 := h.Text("CTYPE1"), h.Text("CTYPE2")
	lon1, lat2 := strings.HasPrefix(c1, "RA--") || strings.HasPrefix(c1, "GLON"), strings.HasPrefix(c2, "DEC-") || strings.HasPrefix(c2, "GLAT")
	switch {
	case c1 == "" && c2 == "":
		return nil, ErrNoWCS
	case strings.HasPrefix(c1, "DEC-") || strings.HasPrefix(c1, "GLAT"):
		return nil, fmt.Errorf("CTYPE1 %q: latitude on the first axis is not supported", c1)
	case !lon1 || !lat2:
		if !strings.HasPrefix(c1, "RA") && !strings.HasPrefix(c1, "GLON") {
			return nil, ErrNoWCS
		}
		return nil, fmt.Errorf("CTYPE1 %q and CTYPE2 %q are not a celestial pair", c1, c2)
	}
	w := &WCS{galactic: strings.HasPrefix(c1, "GLON")}
	if strings.HasPrefix(c1, "RA") != strings.HasPrefix(c2, "DEC") {
		return nil, fmt.Errorf("CTYPE1 %q and CTYPE2 %q mix coordinate systems", c1, c2)
	}
	proj, sip := projection(c1)
	if !zenithal[proj] && proj != "CAR" {
		return nil, fmt.Errorf("CTYPE1 %q: projection %q is not supported (TAN, SIN, ARC, STG, ZEA, CAR)", c1, proj)
	}
	if p2, _ := projection(c2); p2 != proj {
		return nil, fmt.Errorf("CTYPE1 %q and CTYPE2 %q have different projections", c1, c2)
	}
	w.proj = proj
	for _, key := range []string{"PV2_1", "PV2_2", "PV1_1", "PV1_2", "PV1_3"} {
		if v, ok := num(h, key, 0); ok && v != 0 {
			return nil, fmt.Errorf("%s = %g: projection parameters are not supported", key, v)
		}
	}
	if !w.galactic {
		if err := equatorial(h); err != nil {
			return nil, err
		}
	}
	for i, unit := range []string{h.Text("CUNIT1"), h.Text("CUNIT2")} {
		if u := strings.ToLower(unit); u != "" && u != "deg" {
			return nil, fmt.Errorf("CUNIT%d %q: want deg", i+1, unit)
		}
	}
	w.crpix[0], _ = num(h, "CRPIX1", 0)
	w.crpix[1], _ = num(h, "CRPIX2", 0)
	var err error
	if w.cd, err = matrix(h); err != nil {
		return nil, err
	}
	if det := w.cd[0][0]*w.cd[1][1] - w.cd[0][1]*w.cd[1][0]; det == 0 || math.IsNaN(det) {
		return nil, errors.New("the CD (or PC x CDELT) matrix is singular")
	}
	if sip {
		w.sipA, w.sipB = sipTerms(h, "A"), sipTerms(h, "B")
	}
	alpha0, _ := num(h, "CRVAL1", 0)
	delta0, _ := num(h, "CRVAL2", 0)
	if !(delta0 >= -90 && delta0 <= 90) {
		return nil, fmt.Errorf("CRVAL2 = %g: not a latitude", delta0)
	}
	theta0 := 0.0
	if zenithal[proj] {
		theta0 = 90
	}
	phiP := 0.0
	if delta0 < theta0 {
		phiP = 180
	}
	phiP, _ = num(h, "LONPOLE", phiP)
	latPole, _ := num(h, "LATPOLE", 90)
	w.phiP = phiP
	w.alphaP, w.deltaP = nativePole(alpha0, delta0, theta0, phiP, latPole)
	return w, nil
}

// projection splits a CTYPE such as "RA---TAN-SIP" into its projection
// code and whether it carries SIP distortions.
func projection(ctype string) (string, bool) {
	if len(ctype) < 8 {
		return "", false
	}
	return strings.TrimSpace(ctype[5:8]), strings.HasSuffix(ctype, "-SIP")
}

// equatorial refuses equatorial frames other than ICRS and FK5 J2000.
func equatorial(h Header) error {
	sys := strings.ToUpper(h.Text("RADESYS"))
	if sys == "" {
		sys = strings.ToUpper(h.Text("RADECSYS"))
	}
	eq, hasEq := num(h, "EQUINOX", 2000)
	if !hasEq {
		eq, hasEq = num(h, "EPOCH", 2000)
	}
	switch {
	case sys == "ICRS" || sys == "GCRS":
		return nil
	case sys == "FK4" || sys == "FK4-NO-E" || (sys == "" && hasEq && eq < 1984):
		return fmt.Errorf("RADESYS %q, EQUINOX %g: B1950 (FK4) coordinates are not supported; want ICRS or FK5 J2000", sys, eq)
	case (sys == "FK5" || sys == "") && eq == 2000:
		return nil
	}
	return fmt.Errorf("RADESYS %q, EQUINOX %g: want ICRS or FK5 J2000", sys, eq)
}

// matrix returns the CD matrix, from CDi_j, else PCi_j (or CROTA2) times
// CDELTi.
func matrix(h Header) ([2][2]float64, error) {
	var m [2][2]float64
	hasCD := false
	for i := range 2 {
		for j := range 2 {
			v, ok := num(h, fmt.Sprintf("CD%d_%d", i+1, j+1), 0)
			m[i][j], hasCD = v, hasCD || ok
		}
	}
	if hasCD {
		return m, nil
	}
	d1, ok1 := num(h, "CDELT1", 1)
	d2, ok2 := num(h, "CDELT2", 1)
	if !ok1 || !ok2 {
		return m, errors.New("neither CDi_j nor CDELT1 and CDELT2: no pixel scale")
	}
	pc := [2][2]float64{{1, 0}, {0, 1}}
	hasPC := false
	for i := range 2 {
		for j := range 2 {
			if v, ok := num(h, fmt.Sprintf("PC%d_%d", i+1, j+1), pc[i][j]); ok {
				pc[i][j], hasPC = v, true
			}
		}
	}
	if rho, ok := num(h, "CROTA2", 0); ok && !hasPC && rho != 0 {
		s, c := math.Sincos(rho * deg)
		pc = [2][2]float64{{c, -s * d2 / d1}, {s * d1 / d2, c}}
	}
	d := [2]float64{d1, d2}
	for i := range 2 {
		for j := range 2 {
			m[i][j] = d[i] * pc[i][j]
		}
	}
	return m, nil
}

// sipTerms reads the SIP polynomial X_p_q (X = A or B) up to X_ORDER.
func sipTerms(h Header, x string) map[[2]int]float64 {
	order, _ := num(h, x+"_ORDER", 0)
	terms := map[[2]int]float64{}
	for p := 0; p <= int(order); p++ {
		for q := 0; p+q <= int(order); q++ {
			if v, ok := num(h, fmt.Sprintf("%s_%d_%d", x, p, q), 0); ok && v != 0 {
				terms[[2]int{p, q}] = v
			}
		}
	}
	return terms
}

// nativePole returns the celestial coordinates (alpha_p, delta_p) of the
// native pole for the reference point (alpha0, delta0) at native latitude
// theta0 (native longitude 0) and the pole's native longitude phiP,
// choosing the solution nearer latPole (Calabretta & Greisen 2002, eqs.
// 8-10). Degrees.
func nativePole(alpha0, delta0, theta0, phiP, latPole float64) (float64, float64) {
	if theta0 == 90 {
		return alpha0, delta0
	}
	st0, ct0 := math.Sincos(theta0 * deg)
	sdp := math.Sin((phiP) * deg)
	base := math.Atan2(st0, ct0*math.Cos(phiP*deg)) / deg
	arg := math.Sin(delta0*deg) / math.Sqrt(1-ct0*ct0*sdp*sdp)
	spread := math.Acos(max(-1, min(1, arg))) / deg
	deltaP := base + spread
	if alt := base - spread; math.Abs(alt-latPole) < math.Abs(deltaP-latPole) && alt >= -90 {
		deltaP = alt
	}
	if deltaP > 90 {
		deltaP = base - spread
	}
	if math.Abs(delta0) == 90 {
		return alpha0, deltaP
	}
	sd0, cd0 := math.Sincos(delta0 * deg)
	sdP, cdP := math.Sincos(deltaP * deg)
	alphaP := alpha0 - math.Atan2(sdp*ct0/cd0, (st0-sdP*sd0)/(cdP*cd0))/deg
	return alphaP, deltaP
}

// PixelToSky returns the ICRS position of the 1-based pixel (x, y).
func (w *WCS) PixelToSky(x, y float64) Position {
	u, v := x-w.crpix[0], y-w.crpix[1]
	if w.sipA != nil {
		u, v = u+sip(w.sipA, u, v), v+sip(w.sipB, u, v)
	}
	xw := w.cd[0][0]*u + w.cd[0][1]*v
	yw := w.cd[1][0]*u + w.cd[1][1]*v
	var phi, theta float64 // native spherical coordinates, degrees
	if w.proj == "CAR" {
		phi, theta = xw, yw
	} else {
		r := math.Hypot(xw, yw)
		phi = math.Atan2(xw, -yw) / deg
		theta = zenithalTheta(w.proj, r)
	}
	lon, lat := w.rotate(phi, theta)
	p := Position{RA: lon, Dec: lat}
	if w.galactic {
		p = galacticToICRS(lon, lat)
	}
	return p
}

// zenithalTheta is the native latitude (degrees) at radius r (degrees)
// from the reference point of a zenithal projection.
func zenithalTheta(proj string, r float64) float64 {
	switch proj {
	case "TAN":
		return math.Atan2(1, r*deg) / deg
	case "SIN":
		return math.Acos(min(r*deg, 1)) / deg
	case "ARC":
		return 90 - r
	case "STG":
		return 90 - 2*math.Atan(r*deg/2)/deg
	}
	return 90 - 2*math.Asin(min(r*deg/2, 1))/deg // ZEA
}

// sip evaluates the SIP polynomial sum of c u^p v^q.
func sip(terms map[[2]int]float64, u, v float64) float64 {
	s := 0.0
	for pq, c := range terms {
		s += c * math.Pow(u, float64(pq[0])) * math.Pow(v, float64(pq[1]))
	}
	return s
}

// rotate turns native (phi, theta) into celestial (lon, lat), degrees, lon
// in [0, 360) (Calabretta & Greisen 2002, eq. 2).
func (w *WCS) rotate(phi, theta float64) (float64, float64) {
	st, ct := math.Sincos(theta * deg)
	sdp, cdp := math.Sincos(w.deltaP * deg)
	sd, cd := math.Sincos((phi - w.phiP) * deg)
	lon := w.alphaP + math.Atan2(-ct*sd, st*cdp-ct*sdp*cd)/deg
	lat := math.Asin(max(-1, min(1, st*sdp+ct*cdp*cd))) / deg
	lon = math.Mod(lon, 360)
	if lon < 0 {
		lon += 360
	}
	return lon, lat
}

// galacticToICRS converts galactic (l, b) to ICRS with the transpose of
// the Hipparcos ICRS-to-galactic rotation (ESA 1997, vol. 1, sec. 1.5.3).
func galacticToICRS(l, b float64) Position {
	m := [3][3]float64{
		{-0.0548755604162154, -0.8734370902348850, -0.4838350155487132},
		{0.4941094278755837, -0.4448296299600112, 0.7469822444972189},
		{-0.8676661490190047, -0.1980763734312015, 0.4559837761750669},
	}
	sb, cb := math.Sincos(b * deg)
	sl, cl := math.Sincos(l * deg)
	g := [3]float64{cb * cl, cb * sl, sb}
	var e [3]float64
	for i := range 3 {
		for j := range 3 {
			e[i] += m[j][i] * g[j]
		}
	}
	ra := math.Atan2(e[1], e[0]) / deg
	if ra < 0 {
		ra += 360
	}
	return Position{RA: ra, Dec: math.Asin(max(-1, min(1, e[2]))) / deg}
}

// Text returns a string keyword's value, trimmed, or "" when it is absent
// or not a string.
func (h Header) Text(key string) string {
	v, ok := h(key)
	if !ok {
		return ""
	}
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

// num returns a numeric keyword's value and whether it was there and
// numeric, else def.
func num(h Header, key string, def float64) (float64, bool) {
	v, ok := h(key)
	if !ok {
		return def, false
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return def, false
}

// Orientation is how the sky lies on an image near one pixel: the pixel
// scale and the directions of north and east as unit vectors in pixel
// coordinates (x along a row, y from row to row: the FITS axes).
type Orientation struct {
	Scale       float64    // arcseconds per pixel (the root of the pixel's area)
	North, East [2]float64 // unit vectors (x, y)
}

// Orientation returns the orientation at the 1-based pixel (x, y), from
// the sky positions of it and its neighbours along x and y: the local
// Jacobian of (east, north) offsets, inverted to pixel directions.
func (w *WCS) Orientation(x, y float64) (Orientation, error) {
	p := w.PixelToSky(x, y)
	var j [2][2]float64 // j[k] = (east, north) arcsec for a step of one pixel along axis k
	for k, q := range []Position{w.PixelToSky(x+1, y), w.PixelToSky(x, y+1)} {
		dra := math.Remainder(q.RA-p.RA, 360)
		j[k] = [2]float64{dra * math.Cos(p.Dec*deg) * 3600, (q.Dec - p.Dec) * 3600}
	}
	det := j[0][0]*j[1][1] - j[1][0]*j[0][1]
	if !(math.Abs(det) > 0) || math.IsInf(det, 0) {
		return Orientation{}, fmt.Errorf("the WCS maps the pixels near (%g, %g) to no area of sky", x, y)
	}
	// Pixel steps (dx, dy) giving (east, north) = dx·j[0] + dy·j[1]: the
	// columns of the inverse Jacobian.
	unit := func(dx, dy float64) [2]float64 {
		n := math.Hypot(dx, dy)
		return [2]float64{dx / n, dy / n}
	}
	return Orientation{
		Scale: math.Sqrt(math.Abs(det)),
		North: unit(-j[1][0]/det, j[0][0]/det),
		East:  unit(j[1][1]/det, -j[0][1]/det),
	}, nil
}
