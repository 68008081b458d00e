package data

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/astrogo/fitsio"

	"github.com/sslens/sslens/backend/sky"
)

// Meta is what a cutout file says about itself beyond its pixels. Only FITS
// files say anything; other formats give the zero Meta.
type Meta struct {
	Object string // the OBJECT keyword, trimmed; "" when absent
	// Position is the cutout's centre (ICRS) and where it came from (the
	// WCS at the centre, or position keywords); nil when the file gives none.
	Position     *sky.Position
	PositionFrom sky.Source
	// Orientation is the WCS's pixel scale and north and east at the
	// centre; nil without a WCS.
	Orientation *sky.Orientation
	// Filters are the file's own names of the g, r and i planes (e.g.
	// HSC-G, or g from a BANDS keyword), "" where it names none.
	Filters [3]string
	// Substituted is SubstitutedZAsI when a z band was read as i
	// (ReadOptions.ZAsI), else "".
	Substituted string
	// Masked and Variance are a combined cutout's MASK flags (1 where its
	// bands' masks set a pixel to 0) and VARIANCE, (3, H, W) in g, r, i
	// order, for display; C is 0 when a band's file had none.
	Masked, Variance Image
	// Notes say what reading the file involved that a user should know: bands
	// reordered or substituted, masked pixels blanked, a WCS that could not
	// be read.
	Notes []string
}

// SubstitutedZAsI is Meta.Substituted for a z band read as i.
const SubstitutedZAsI = "z as i"

// Band is one band of a cutout read from a single-band file, such as the
// HSC cutout service's (IMAGE, MASK and VARIANCE extensions of one filter).
type Band struct {
	Name   string // g, r, i, or another band letter (z, y, u); "" when the file names none
	Filter string // the file's filter name, e.g. HSC-R2
	H, W   int
	Pix    []float32 // row-major, masked pixels set to 0
	// Masked flags the pixels MASK set to 0; Variance is the VARIANCE
	// extension (flux units squared). Each is nil when the file has none.
	Masked   []bool
	Variance []float32
	Meta     Meta
}

// HSC cutout-service MASK bit planes whose pixels hold no usable flux
// (Bosch et al. 2018, PASJ 70, S5): their pixels are set to 0, the
// sky-subtracted background.
var badMaskPlanes = []string{"NO_DATA", "SAT", "BAD"}

// bandLetter maps a filter name as surveys write it (g, HSC-R2, DECam z,
// SDSS_i, i') to its band letter, or "" when it names none of u, g, r, i,
// z, y unambiguously.
func bandLetter(filter string) string {
	found := ""
	for _, tok := range strings.FieldsFunc(strings.ToLower(filter), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		tok = strings.TrimRight(tok, "0123456789")
		if len(tok) == 1 && strings.Contains("ugrizy", tok) {
			if found != "" && found != tok {
				return ""
			}
			found = tok
		}
	}
	return found
}

// headerOf looks keywords up in the given FITS headers in turn (an image
// HDU's, then the primary's, which extensions inherit).
func headerOf(hs ...*fitsio.Header) sky.Header {
	return func(key string) (any, bool) {
		for _, h := range hs {
			if h == nil {
				continue
			}
			if c := h.Get(key); c != nil {
				return c.Value, true
			}
		}
		return nil, false
	}
}

// readMeta fills the object name and position of an image of h x w pixels.
// A position that cannot be read is a note, not an error: the pixels are
// still good.
func readMeta(h sky.Header, height, width int) Meta {
	m := Meta{Object: h.Text("OBJECT")}
	p, src, err := sky.HeaderPosition(h, width, height)
	switch {
	case err == nil:
		m.Position, m.PositionFrom = &p, src
	case !errors.Is(err, sky.ErrNoPosition):
		m.Notes = append(m.Notes, "no position: "+err.Error())
	}
	if src == sky.FromWCS {
		w, err := sky.ParseWCS(h) // it read once already, for the position
		var o sky.Orientation
		if err == nil {
			o, err = w.Orientation(float64(width+1)/2, float64(height+1)/2)
		}
		if err != nil {
			m.Notes = append(m.Notes, "no orientation: "+err.Error())
		} else {
			m.Orientation = &o
		}
	}
	return m
}

// extName returns an HDU's EXTNAME, upper case and trimmed.
func extName(img fitsio.Image) string {
	return strings.ToUpper(strings.TrimSpace(img.Name()))
}

// filterOf returns the filter an image HDU names, from FILTER, BAND or
// EXTNAME, in that order, with the primary header as fall-back.
func filterOf(img fitsio.Image, primary *fitsio.Header) string {
	h := headerOf(img.Header(), primary)
	for _, key := range []string{"FILTER", "BAND"} {
		if f := h.Text(key); f != "" {
			return f
		}
	}
	return headerOf(img.Header()).Text("EXTNAME")
}

// cubeBands returns the band names a cube's header gives its planes: BANDS
// ("grz") or BAND0..BAND2; nil when it gives none.
func cubeBands(h sky.Header, n int) []string {
	if s := h.Text("BANDS"); len(s) == n {
		out := make([]string, n)
		for i, r := range s {
			out[i] = bandLetter(string(r))
		}
		return out
	}
	var out []string
	for i := range n {
		f := h.Text(fmt.Sprintf("BAND%d", i))
		if f == "" {
			return nil
		}
		out = append(out, bandLetter(f))
	}
	return out
}

// bandOrder returns, for g, r and i, the index of the plane named so among
// names; an error names the bands the planes have when they are not g, r
// and i once each. With zAsI a z band stands in for a missing i, and meta
// records it (Substituted, and a note).
func bandOrder(names []string, source string, zAsI bool, meta *Meta) ([3]int, error) {
	find := func(b string) int { return slices.Index(names, b) }
	if zAsI && find("i") < 0 && find("z") >= 0 {
		find = func(b string) int {
			if b == "i" {
				b = "z"
			}
			return slices.Index(names, b)
		}
		meta.Substituted = SubstitutedZAsI
		meta.Notes = append(meta.Notes, "the z band is read as i, as asked: the model was trained on g, r, i, so its score is less reliable")
	}
	var order [3]int
	for c, b := range Bands {
		order[c] = find(b)
		if order[c] < 0 || slices.Index(names[order[c]+1:], names[order[c]]) >= 0 {
			shown := make([]string, len(names))
			for i, n := range names {
				shown[i] = n
				if n == "" {
					shown[i] = "?"
				}
			}
			hint := ""
			if !zAsI && slices.Contains(names, "z") && !slices.Contains(names, "i") {
				hint = "; to score it anyway with z read as i, upload it with that choice"
			}
			return order, fmt.Errorf("%w: the planes are bands %s (%s); want g, r and i once each (the model was trained on g, r, i)%s",
				ErrShape, strings.Join(shown, ", "), source, hint)
		}
	}
	return order, nil
}

// applyMask sets the pixels of band whose MASK bits flag them as holding
// no usable flux (badMaskPlanes, bit numbers from the mask's MP_* keywords)
// to 0, flags them in band.Masked, and returns how many it set.
func applyMask(band *Band, mask fitsio.Image) (int, error) {
	plane := band.Pix
	h := headerOf(mask.Header())
	var bits int64
	for _, name := range badMaskPlanes {
		v, ok := h("MP_" + name)
		if n, isInt := v.(int); ok && isInt && n >= 0 && n < 63 {
			bits |= 1 << n
		}
	}
	if bits == 0 {
		return 0, errors.New("MASK has no MP_NO_DATA, MP_SAT or MP_BAD keyword naming its bit planes")
	}
	m, err := maskWords(mask, len(plane))
	if err != nil {
		return 0, fmt.Errorf("MASK: %w", err)
	}
	n := 0
	band.Masked = make([]bool, len(plane))
	for i, v := range m {
		if v&bits != 0 {
			plane[i] = 0
			band.Masked[i] = true
			n++
		}
	}
	return n, nil
}

// maskWords reads an integer MASK image as 64-bit words (its bits exactly:
// a float32 plane would drop low bits under high ones).
func maskWords(mask fitsio.Image, n int) ([]int64, error) {
	switch bitpix := mask.Header().Bitpix(); bitpix {
	case 8:
		return readWords[uint8](mask, n)
	case 16:
		return readWords[int16](mask, n)
	case 32:
		return readWords[int32](mask, n)
	case 64:
		return readWords[int64](mask, n)
	default:
		return nil, fmt.Errorf("%w: BITPIX = %d, want an integer mask", ErrFormat, bitpix)
	}
}

// readWords reads n integers of type T from img, widened to int64.
func readWords[T uint8 | int16 | int32 | int64](img fitsio.Image, n int) ([]int64, error) {
	v := make([]T, n)
	if err := img.Read(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	out := make([]int64, n)
	for i, x := range v {
		out[i] = int64(x)
	}
	return out, nil
}

// DecodeBand decodes one band of a cutout from a single-band FITS file
// called name (optionally gzipped), such as the HSC cutout service's.
func DecodeBand(name string, b []byte) (Band, error) {
	band, err := decodeBand(name, b)
	if err != nil {
		return Band{}, &FileError{File: name, Err: err}
	}
	return band, nil
}

func decodeBand(name string, b []byte) (Band, error) {
	if f, _ := formatOf(name); f != formatFITS {
		return Band{}, fmt.Errorf("%w: a single band must be a FITS file", ErrFormat)
	}
	if len(b) > MaxFileBytes {
		return Band{}, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxFileBytes)
	}
	b, err := gunzipIfNamed(name, b)
	if err != nil {
		return Band{}, err
	}
	_, band, _, err := readFITS(b, false)
	if err != nil {
		return Band{}, err
	}
	if band == nil {
		return Band{}, fmt.Errorf("%w: the file holds all three bands, not one", ErrShape)
	}
	for _, v := range band.Pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return Band{}, fmt.Errorf("%w: band %s has NaN or infinite pixels outside its MASK", ErrNonFinite, band.Filter)
		}
	}
	return *band, nil
}

// maxBandOffset bounds how far apart, in arcseconds, the positions of the
// single-band files of one object may be.
const maxBandOffset = 1.0

// CombineBands stacks the g, r and i bands of one object, read from
// single-band files, into an image. The bands must be g, r and i once each,
// of one size, and of one object: equal OBJECT names and positions within
// 1 arcsec where the files give them. zAsI lets a z band stand in for i.
func CombineBands(bands []Band, zAsI bool) (Image, Meta, error) {
	names := make([]string, len(bands))
	for i, b := range bands {
		names[i] = b.Name
	}
	meta := Meta{}
	order, err := bandOrder(names, "FILTER keywords", zAsI, &meta)
	if err != nil || len(bands) != len(Bands) {
		if err == nil {
			err = fmt.Errorf("%w: %d single-band files, want g, r and i", ErrShape, len(bands))
		}
		return Image{}, Meta{}, err
	}
	first := bands[order[0]]
	im := NewImage(len(Bands), first.H, first.W)
	masked, variance := true, true // every band has them
	for _, k := range order {
		masked, variance = masked && bands[k].Masked != nil, variance && bands[k].Variance != nil
	}
	if masked {
		meta.Masked = NewImage(len(Bands), first.H, first.W)
	}
	if variance {
		meta.Variance = NewImage(len(Bands), first.H, first.W)
	}
	for c, k := range order {
		b := bands[k]
		if b.H != first.H || b.W != first.W {
			return Image{}, Meta{}, fmt.Errorf("%w: band %s is %dx%d, band %s %dx%d", ErrShape, b.Filter, b.H, b.W, first.Filter, first.H, first.W)
		}
		copy(im.Plane(c), b.Pix)
		if masked {
			for i, m := range b.Masked {
				if m {
					meta.Masked.Plane(c)[i] = 1
				}
			}
		}
		if variance {
			copy(meta.Variance.Plane(c), b.Variance)
		}
		meta.Filters[c] = b.Filter
		meta.Notes = append(meta.Notes, b.Meta.Notes...)
		switch {
		case meta.Object == "":
			meta.Object = b.Meta.Object
		case b.Meta.Object != "" && b.Meta.Object != meta.Object:
			return Image{}, Meta{}, fmt.Errorf("%w: band %s is object %q, another band %q", ErrShape, b.Filter, b.Meta.Object, meta.Object)
		}
		switch p := b.Meta.Position; {
		case p == nil:
		case meta.Position == nil:
			meta.Position, meta.PositionFrom, meta.Orientation = p, b.Meta.PositionFrom, b.Meta.Orientation
		default:
			if d := sky.Separation(*p, *meta.Position); d > maxBandOffset {
				return Image{}, Meta{}, fmt.Errorf("%w: band %s is centred %.2f arcsec from the others (at most %g)", ErrShape, b.Filter, d, maxBandOffset)
			}
		}
	}
	return im, meta, nil
}
