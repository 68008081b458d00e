package data

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/astrogo/fitsio"
)

// DecodeFITS decodes a FITS cutout (see the package doc for the layouts it
// accepts), uncropped. NaN, Inf and BLANK pixels are an error; use
// DecodeImage for cropping, gzip, or replacing them.
func DecodeFITS(b []byte) (Image, error) {
	im, err := decodeFITSRaw(b)
	if err == nil {
		im, _, err = finish(im, ReadOptions{})
	}
	if err != nil {
		return Image{}, fmt.Errorf("data: fits: %w", err)
	}
	return im, nil
}

// fitsBlock is the FITS record size: headers and data are padded to it.
const fitsBlock = 2880

func decodeFITSRaw(b []byte) (im Image, err error) {
	if err := checkFITSSizes(b); err != nil {
		return Image{}, err
	}
	// fitsio panics on some malformed headers (type assertions on card
	// values, Read into short buffers); none of that may escape.
	defer func() {
		if r := recover(); r != nil {
			im, err = Image{}, fmt.Errorf("%w: fits reader: %v", ErrCorrupt, r)
		}
	}()
	f, err := fitsio.Open(bytes.NewReader(b))
	if err != nil {
		return Image{}, fmt.Errorf("%w: reading FITS: %v", ErrCorrupt, err)
	}
	defer f.Close()

	var planes []fitsio.Image
	var shapes []string
	for _, hdu := range f.HDUs() {
		img, ok := hdu.(fitsio.Image)
		if !ok || len(img.Header().Axes()) == 0 {
			continue // tables and empty (header-only) HDUs
		}
		axes := img.Header().Axes()
		empty := false
		for _, a := range axes {
			empty = empty || a == 0
		}
		if empty {
			continue
		}
		planes = append(planes, img)
		shapes = append(shapes, fitsShape(axes))
	}

	switch {
	case len(planes) == 1 && len(planes[0].Header().Axes()) == 3:
		axes := planes[0].Header().Axes()
		if axes[2] != len(Bands) {
			return Image{}, fmt.Errorf("%w: FITS cube has NAXIS3 = %d, want %d (g, r, i)", ErrShape, axes[2], len(Bands))
		}
		im = NewImage(axes[2], axes[1], axes[0])
		if err := readFITSPlane(planes[0], im.Pix); err != nil {
			return Image{}, err
		}
		return im, nil

	case len(planes) == len(Bands) && allEqual(shapes) && len(planes[0].Header().Axes()) == 2:
		axes := planes[0].Header().Axes()
		im = NewImage(len(Bands), axes[1], axes[0])
		for c, img := range orderByBand(planes) {
			if err := readFITSPlane(img, im.Plane(c)); err != nil {
				return Image{}, fmt.Errorf("HDU %q: %w", img.Name(), err)
			}
		}
		return im, nil
	}
	if len(planes) == 0 {
		return Image{}, fmt.Errorf("%w: FITS file holds no image data", ErrShape)
	}
	return Image{}, fmt.Errorf("%w: want one 3-plane cube or three 2-d images of one size, found %d image HDUs of shape %s",
		ErrShape, len(planes), listShapes(shapes))
}

// listShapes joins shapes for a message, the first few only: a file may
// hold thousands of HDUs.
func listShapes(shapes []string) string {
	const most = 6
	if len(shapes) <= most {
		return strings.Join(shapes, ", ")
	}
	return fmt.Sprintf("%s, ... (%d more)", strings.Join(shapes[:most], ", "), len(shapes)-most)
}

// fitsShape writes FITS axes (fastest first) the numpy way, e.g. (3, 64, 64).
func fitsShape(axes []int) string {
	s := make([]string, len(axes))
	for i, a := range axes {
		s[len(axes)-1-i] = strconv.Itoa(a)
	}
	return "(" + strings.Join(s, ", ") + ")"
}

func allEqual(s []string) bool {
	for _, v := range s {
		if v != s[0] {
			return false
		}
	}
	return true
}

// orderByBand returns the three single-band HDUs in g, r, i order: by EXTNAME
// when the names are exactly g, r and i in any case, else in file order.
func orderByBand(planes []fitsio.Image) []fitsio.Image {
	out := make([]fitsio.Image, len(Bands))
	for _, img := range planes {
		name := ""
		if c := img.Header().Get("EXTNAME"); c != nil {
			name, _ = c.Value.(string)
		}
		i := bandIndex(strings.TrimSpace(name))
		if i < 0 || out[i] != nil {
			return planes
		}
		out[i] = img
	}
	return out
}

func bandIndex(name string) int {
	for i, b := range Bands {
		if strings.EqualFold(name, b) {
			return i
		}
	}
	return -1
}

// readFITSPlane reads the pixels of img into dst (len(dst) = its pixel
// count) as BZERO + BSCALE * stored, with BLANK integers as NaN.
func readFITSPlane(img fitsio.Image, dst []float32) error {
	hdr := img.Header()
	bitpix := hdr.Bitpix()
	if need := len(dst) * abs(bitpix) / 8; len(img.Raw()) < need {
		return fmt.Errorf("%w: FITS data is %d bytes, want %d", ErrCorrupt, len(img.Raw()), need)
	}
	scale, err := fitsFloat(hdr, "BSCALE", 1)
	if err != nil {
		return err
	}
	zero, err := fitsFloat(hdr, "BZERO", 0)
	if err != nil {
		return err
	}
	var blank *int64
	if c := hdr.Get("BLANK"); c != nil && bitpix > 0 {
		v, ok := c.Value.(int)
		if !ok {
			return fmt.Errorf("%w: FITS BLANK = %v is not an integer", ErrCorrupt, c.Value)
		}
		b := int64(v)
		blank = &b
	}
	switch bitpix {
	case 8:
		return readFITSAs[uint8](img, dst, scale, zero, blank)
	case 16:
		return readFITSAs[int16](img, dst, scale, zero, blank)
	case 32:
		return readFITSAs[int32](img, dst, scale, zero, blank)
	case 64:
		return readFITSAs[int64](img, dst, scale, zero, blank)
	case -32:
		return readFITSAs[float32](img, dst, scale, zero, nil)
	case -64:
		return readFITSAs[float64](img, dst, scale, zero, nil)
	}
	return fmt.Errorf("%w: FITS BITPIX = %d (want 8, 16, 32, 64, -32 or -64)", ErrFormat, bitpix)
}

// readFITSAs reads img as T. fitsio's Read panics unless the slice already
// has the pixel count as its length.
func readFITSAs[T uint8 | int16 | int32 | int64 | float32 | float64](img fitsio.Image, dst []float32, scale, zero float64, blank *int64) error {
	v := make([]T, len(dst))
	if err := img.Read(&v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	for i, x := range v {
		if blank != nil && int64(x) == *blank {
			dst[i] = float32(math.NaN())
			continue
		}
		dst[i] = float32(zero + scale*float64(x))
	}
	return nil
}

func fitsFloat(hdr *fitsio.Header, key string, def float64) (float64, error) {
	c := hdr.Get(key)
	if c == nil {
		return def, nil
	}
	switch v := c.Value.(type) {
	case int:
		return float64(v), nil
	case float64:
		return v, nil
	}
	return 0, fmt.Errorf("%w: FITS %s = %v is not a number", ErrCorrupt, key, c.Value)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// checkFITSSizes walks the HDU headers and checks that the data each claims
// fits in the rest of b and that no image is larger than MaxSide a side. fitsio allocates whatever a header claims (axes,
// NAXIS, TFIELDS) before reading, so a 3 KB file could otherwise ask for
// terabytes. It reads only the size keywords, as fitsio parses them: the last
// of duplicate cards wins.
func checkFITSSizes(b []byte) error {
	if !bytes.HasPrefix(b, []byte("SIMPLE  =")) {
		return fmt.Errorf("%w: not a FITS file (it does not start with a SIMPLE card)", ErrCorrupt)
	}
	if len(b) < fitsBlock {
		return fmt.Errorf("%w: FITS file truncated: %d bytes, less than one %d-byte header", ErrCorrupt, len(b), fitsBlock)
	}
	for off, hdu := 0, 0; len(b)-off >= fitsBlock; hdu++ {
		keys := map[string]string{}
		end := false
		for !end {
			if len(b)-off < fitsBlock {
				return fmt.Errorf("%w: FITS header %d has no END card", ErrCorrupt, hdu)
			}
			for i := 0; i < fitsBlock/80 && !end; i++ {
				card := b[off+80*i : off+80*(i+1)]
				end = bytes.HasPrefix(card, []byte("END     "))
				// fitsio also takes keywords from ESO HIERARCH cards.
				if eq := bytes.IndexByte(card, '='); bytes.HasPrefix(card, []byte("HIERARCH ")) && eq > 0 {
					keys[strings.TrimSpace(string(card[9:eq]))] = string(card[eq+1:])
				} else if bytes.Equal(card[8:10], []byte("= ")) {
					keys[strings.TrimSpace(string(card[:8]))] = string(card[10:])
				}
			}
			off += fitsBlock
		}
		num := func(key string, def int) (int, error) {
			v, ok := keys[key]
			if !ok {
				return def, nil
			}
			if i := strings.Index(v, " /"); i >= 0 {
				v = v[:i]
			}
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 && key != "BITPIX" {
				return 0, fmt.Errorf("%w: FITS header %d: %s = %q is not a valid size", ErrCorrupt, hdu, key, strings.TrimSpace(v))
			}
			return n, nil
		}
		naxis, err := num("NAXIS", 0)
		if err != nil {
			return err
		}
		if naxis > 999 {
			return fmt.Errorf("%w: FITS header %d: NAXIS = %d (at most 999)", ErrCorrupt, hdu, naxis)
		}
		if tf, err := num("TFIELDS", 0); err != nil || tf > 999 {
			return fmt.Errorf("%w: FITS header %d: bad TFIELDS (at most 999)", ErrCorrupt, hdu)
		}
		// Image HDUs (the primary one and IMAGE extensions) are refused by
		// their size before fitsio reads them.
		if ext, ok := keys["XTENSION"]; naxis >= 2 && (hdu == 0 || ok && strings.Contains(ext, "'IMAGE")) {
			w, err := num("NAXIS1", 0)
			if err != nil {
				return err
			}
			h, err := num("NAXIS2", 0)
			if err != nil {
				return err
			}
			if err := checkSide(fmt.Sprintf("FITS header %d", hdu), h, w); err != nil {
				return err
			}
		}
		bitpix, err := num("BITPIX", 8)
		if err != nil {
			return err
		}
		// An upper bound on what fitsio reads: |BITPIX|/8 * (PCOUNT + prod(NAXISn)).
		left := len(b) - off
		pix := max(abs(bitpix)/8, 1)
		n := 1
		if naxis == 0 {
			n = 0
		}
		for i := 1; i <= naxis; i++ {
			a, err := num("NAXIS"+strconv.Itoa(i), 0)
			if err != nil {
				return err
			}
			if a != 0 && n > left/a {
				return fmt.Errorf("%w: FITS header %d claims more data than the %d bytes left in the file", ErrCorrupt, hdu, left)
			}
			n *= a
		}
		pcount, err := num("PCOUNT", 0)
		if err != nil {
			return err
		}
		if pcount > left || n+pcount > left/pix {
			return fmt.Errorf("%w: FITS header %d claims more data than the %d bytes left in the file", ErrCorrupt, hdu, left)
		}
		size := pix * (n + pcount)
		off += (size + fitsBlock - 1) / fitsBlock * fitsBlock
	}
	return nil
}
