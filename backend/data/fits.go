package data

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/astrogo/fitsio"
)

// DecodeFITS decodes a FITS cutout (see the package doc for the layouts it
// accepts), uncropped. NaN, Inf and BLANK pixels are an error; use
// DecodeImage for cropping, gzip, or replacing them.
func DecodeFITS(b []byte) (Image, error) {
	im, _, err := decodeFITSRaw(b, false)
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

// decodeFITSRaw reads a FITS file that holds all three bands (z read as
// i with zAsI); a single-band file is an error that says how to give
// sslens its bands.
func decodeFITSRaw(b []byte, zAsI bool) (Image, Meta, error) {
	im, band, meta, err := readFITS(b, zAsI)
	if err != nil {
		return Image{}, Meta{}, err
	}
	if band != nil {
		filter := band.Filter
		if filter == "" {
			filter = "unnamed"
		}
		return Image{}, Meta{}, fmt.Errorf("%w: %w (filter %s); upload the object's g, r and i files together and sslens combines them", ErrShape, ErrSingleBand, filter)
	}
	return im, meta, nil
}

// readFITS reads a FITS cutout: a 3-band image (a cube, or three 2-d image
// HDUs), or one band (a single 2-d image, with the HSC cutout service's
// MASK applied and its VARIANCE set aside), with what its headers say;
// zAsI reads a 3-band file's z band as i (see bandOrder).
func readFITS(b []byte, zAsI bool) (im Image, band *Band, meta Meta, err error) {
	if err := checkFITSSizes(b); err != nil {
		return Image{}, nil, Meta{}, err
	}
	// fitsio panics on some malformed headers (type assertions on card
	// values, Read into short buffers); none of that may escape.
	defer func() {
		if r := recover(); r != nil {
			im, band, meta, err = Image{}, nil, Meta{}, fmt.Errorf("%w: fits reader: %v", ErrCorrupt, r)
		}
	}()
	f, err := fitsio.Open(bytes.NewReader(b))
	if err != nil {
		return Image{}, nil, Meta{}, fmt.Errorf("%w: reading FITS: %v", ErrCorrupt, err)
	}
	defer f.Close()

	var primary *fitsio.Header
	var planes []fitsio.Image
	var mask, variance fitsio.Image
	var shapes []string
	for i, hdu := range f.HDUs() {
		if i == 0 {
			primary = hdu.Header()
		}
		img, ok := hdu.(fitsio.Image)
		if !ok || len(img.Header().Axes()) == 0 {
			continue // tables and empty (header-only) HDUs
		}
		axes := img.Header().Axes()
		if slices.Contains(axes, 0) {
			continue
		}
		switch extName(img) {
		case "MASK":
			mask = img
			continue
		case "VARIANCE":
			variance = img // the noise of an HSC cutout's IMAGE: not a band
			continue
		}
		planes = append(planes, img)
		shapes = append(shapes, fitsShape(axes))
	}
	if len(planes) == 0 {
		return Image{}, nil, Meta{}, fmt.Errorf("%w: FITS file holds no image data", ErrShape)
	}
	first := planes[0]
	axes := first.Header().Axes()
	hdr := headerOf(first.Header(), primary)
	meta = readMeta(hdr, axes[1], axes[0])

	switch {
	case len(planes) == 1 && len(axes) == 3:
		if axes[2] != len(Bands) {
			return Image{}, nil, Meta{}, fmt.Errorf("%w: FITS cube has NAXIS3 = %d, want %d (g, r, i)", ErrShape, axes[2], len(Bands))
		}
		cube := NewImage(axes[2], axes[1], axes[0])
		if err := readFITSPlane(first, cube.Pix); err != nil {
			return Image{}, nil, Meta{}, err
		}
		names := cubeBands(hdr, len(Bands))
		if names == nil {
			return cube, nil, meta, nil
		}
		order, err := bandOrder(names, "BANDS keyword", zAsI, &meta)
		if err != nil {
			return Image{}, nil, Meta{}, err
		}
		im = NewImage(cube.C, cube.H, cube.W)
		for c, k := range order {
			copy(im.Plane(c), cube.Plane(k))
			meta.Filters[c] = names[k]
		}
		if order != [3]int{0, 1, 2} {
			meta.Notes = append(meta.Notes, fmt.Sprintf("planes reordered from bands %s to g, r, i", strings.Join(names, ", ")))
		}
		return im, nil, meta, nil

	case len(planes) == 1 && len(axes) == 2:
		filter := filterOf(first, primary)
		band := &Band{Name: bandLetter(filter), Filter: filter, H: axes[1], W: axes[0], Pix: make([]float32, axes[0]*axes[1])}
		if err := readFITSPlane(first, band.Pix); err != nil {
			return Image{}, nil, Meta{}, err
		}
		if mask != nil {
			if !slices.Equal(mask.Header().Axes(), axes) {
				return Image{}, nil, Meta{}, fmt.Errorf("%w: MASK is %s, the image %s", ErrShape, fitsShape(mask.Header().Axes()), fitsShape(axes))
			}
			n, err := applyMask(band, mask)
			if err != nil {
				return Image{}, nil, Meta{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			if n > 0 {
				meta.Notes = append(meta.Notes, fmt.Sprintf("%d pixels flagged %s in MASK set to 0", n, strings.Join(badMaskPlanes, ", ")))
			}
		}
		if variance != nil {
			if !slices.Equal(variance.Header().Axes(), axes) {
				return Image{}, nil, Meta{}, fmt.Errorf("%w: VARIANCE is %s, the image %s", ErrShape, fitsShape(variance.Header().Axes()), fitsShape(axes))
			}
			band.Variance = make([]float32, len(band.Pix))
			if err := readFITSPlane(variance, band.Variance); err != nil {
				return Image{}, nil, Meta{}, fmt.Errorf("VARIANCE: %w", err)
			}
		}
		band.Meta = meta
		return Image{}, band, meta, nil

	case len(planes) == len(Bands) && allEqual(shapes) && len(axes) == 2:
		var names []string
		for _, img := range planes {
			names = append(names, bandLetter(filterOf(img, primary)))
		}
		order := [3]int{0, 1, 2} // file order when the planes are not all named
		if !slices.Contains(names, "") {
			if order, err = bandOrder(names, "FILTER, BAND or EXTNAME keywords", zAsI, &meta); err != nil {
				return Image{}, nil, Meta{}, err
			}
			if order != [3]int{0, 1, 2} {
				meta.Notes = append(meta.Notes, fmt.Sprintf("HDUs reordered from bands %s to g, r, i", strings.Join(names, ", ")))
			}
		}
		im = NewImage(len(Bands), axes[1], axes[0])
		for c, k := range order {
			if err := readFITSPlane(planes[k], im.Plane(c)); err != nil {
				return Image{}, nil, Meta{}, fmt.Errorf("HDU %q: %w", planes[k].Name(), err)
			}
			meta.Filters[c] = filterOf(planes[k], primary)
		}
		return im, nil, meta, nil
	}
	return Image{}, nil, Meta{}, fmt.Errorf("%w: want one 3-plane cube, three 2-d images of one size, or one band, found %d image HDUs of shape %s",
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
