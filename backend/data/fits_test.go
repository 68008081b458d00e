package data

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/astrogo/fitsio"
)

// fitsHDU describes one HDU for fitsBytes; data nil leaves it empty.
type fitsHDU struct {
	bitpix int
	axes   []int
	data   any
	cards  []fitsio.Card
}

// fitsBytes writes hdus with fitsio itself, the first as the primary HDU.
func fitsBytes(t testing.TB, hdus ...fitsHDU) []byte {
	t.Helper()
	var buf bytes.Buffer
	f, err := fitsio.Create(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hdus {
		var img fitsio.Image
		if i == 0 {
			img, err = fitsio.NewPrimaryHDU(fitsio.NewHeader(h.cards, fitsio.IMAGE_HDU, h.bitpix, h.axes))
			if err != nil {
				t.Fatal(err)
			}
		} else {
			img = fitsio.NewImage(h.bitpix, h.axes)
			if err := img.Header().Append(h.cards...); err != nil {
				t.Fatal(err)
			}
		}
		if h.data != nil {
			if err := img.Write(h.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Write(img); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fitsHeaderOnly builds one header block from card texts, for inputs fitsio
// would refuse to write.
func fitsHeaderOnly(cards ...string) []byte {
	var b []byte
	for _, c := range append(cards, "END") {
		b = append(b, fmt.Sprintf("%-80s", c)...)
	}
	return append(b, bytes.Repeat([]byte(" "), (fitsBlock-len(b)%fitsBlock)%fitsBlock)...)
}

// storedPlane returns n stored values of one BITPIX type: i%50 shifted by
// off, so every plane differs.
func storedPlane(bitpix, n, off int) (any, []float64) {
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = float64((i+off)%50 + off)
	}
	switch bitpix {
	case 8:
		return convertTo[uint8](vals), vals
	case 16:
		return convertTo[int16](vals), vals
	case 32:
		return convertTo[int32](vals), vals
	case 64:
		return convertTo[int64](vals), vals
	case -32:
		return convertTo[float32](vals), vals
	}
	return convertTo[float64](vals), vals
}

func convertTo[T uint8 | int16 | int32 | int64 | float32 | float64](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

func TestDecodeFITS(t *testing.T) {
	const h, w = 5, 4 // H != W catches swapped axes
	scaled := []fitsio.Card{{Name: "BSCALE", Value: 0.5}, {Name: "BZERO", Value: -3.0}}
	for _, bitpix := range []int{8, 16, 32, 64, -32, -64} {
		for _, layout := range []string{"cube", "cube in extension", "3 HDUs", "3 HDUs with EXTNAME"} {
			for _, cards := range [][]fitsio.Card{nil, scaled} {
				name := fmt.Sprintf("BITPIX %d %s scaled=%v", bitpix, layout, cards != nil)
				t.Run(name, func(t *testing.T) {
					scale, zero := 1.0, 0.0
					if cards != nil {
						scale, zero = 0.5, -3
					}
					want := NewImage(3, h, w)
					var hdus []fitsHDU
					switch layout {
					case "cube", "cube in extension":
						data, vals := storedPlane(bitpix, 3*h*w, 0)
						for i, v := range vals {
							want.Pix[i] = float32(zero + scale*v)
						}
						cube := fitsHDU{bitpix: bitpix, axes: []int{w, h, 3}, data: data, cards: cards}
						if layout == "cube" {
							hdus = []fitsHDU{cube}
						} else {
							hdus = []fitsHDU{{bitpix: 8}, cube}
						}
					default:
						hdus = []fitsHDU{{bitpix: 8}}
						names := []string{"I", "g", "r"} // file order i, g, r when named
						for k := range 3 {
							c := k
							hc := append([]fitsio.Card{}, cards...)
							if layout == "3 HDUs with EXTNAME" {
								c = slices.Index(Bands[:], strings.ToLower(names[k]))
								hc = append(hc, fitsio.Card{Name: "EXTNAME", Value: names[k]})
							}
							data, vals := storedPlane(bitpix, h*w, 7*c)
							for i, v := range vals {
								want.Plane(c)[i] = float32(zero + scale*v)
							}
							hdus = append(hdus, fitsHDU{bitpix: bitpix, axes: []int{w, h}, data: data, cards: hc})
						}
					}
					b := fitsBytes(t, hdus...)
					got, err := DecodeFITS(b)
					if err != nil {
						t.Fatal(err)
					}
					sameImage(t, got, want)
					got, err = DecodeImage("up.fits.gz", gzipBytes(t, b), ReadOptions{})
					if err != nil {
						t.Fatalf("gzip: %v", err)
					}
					sameImage(t, got, want)
				})
			}
		}
	}
}

// TestFITSUnsignedZero checks the usual unsigned 16-bit encoding: int16
// stored with BZERO = 32768, which fitsio leaves to the caller.
func TestFITSUnsignedZero(t *testing.T) {
	stored := []int16{-32768, -1, 0, 32767}
	want := []float32{0, 32767, 32768, 65535}
	plane := func() []int16 {
		p := make([]int16, 4)
		copy(p, stored)
		return p
	}
	cards := []fitsio.Card{{Name: "BZERO", Value: 32768}, {Name: "BSCALE", Value: 1}}
	b := fitsBytes(t, fitsHDU{bitpix: 8},
		fitsHDU{bitpix: 16, axes: []int{2, 2}, data: plane(), cards: cards},
		fitsHDU{bitpix: 16, axes: []int{2, 2}, data: plane(), cards: cards},
		fitsHDU{bitpix: 16, axes: []int{2, 2}, data: plane(), cards: cards})
	im, err := DecodeFITS(b)
	if err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		for i, v := range im.Plane(c) {
			if v != want[i] {
				t.Fatalf("band %d pixel %d = %v, want %v", c, i, v, want[i])
			}
		}
	}
}

func TestFITSBlankAndCrop(t *testing.T) {
	data := make([]int16, 3*6*6)
	for i := range data {
		data[i] = int16(i)
	}
	data[6*6+2*6+3] = -999 // band r, y=2, x=3: inside a 4x4 crop
	b := fitsBytes(t, fitsHDU{bitpix: 16, axes: []int{6, 6, 3}, data: data, cards: []fitsio.Card{{Name: "BLANK", Value: -999}}})
	if _, err := DecodeImage("a.fits", b, ReadOptions{Crop: 4}); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "band r at y=1, x=2") {
		t.Fatalf("BLANK pixel: err = %v, want ErrNonFinite at band r, y=1, x=2 of the crop", err)
	}
	im, err := DecodeImage("a.fits", b, ReadOptions{Crop: 4, ReplaceNonFinite: true})
	if err != nil {
		t.Fatal(err)
	}
	// The crop starts at (1, 1): crop (1, 1) is file (2, 2).
	if im.H != 4 || im.W != 4 || im.At(1, 1, 2) != 0 || im.At(1, 1, 1) != float32(6*6+2*6+2) {
		t.Errorf("cropped (%d,%d): blank -> %v (want 0), neighbour %v (want %d)", im.H, im.W, im.At(1, 1, 2), im.At(1, 1, 1), 6*6+2*6+2)
	}
}

func TestDecodeFITSBad(t *testing.T) {
	plane := func() []float32 { return make([]float32, 16) }
	cube := fitsBytes(t, fitsHDU{bitpix: -32, axes: []int{4, 4, 3}, data: make([]float32, 48)})
	nan := make([]float32, 48)
	nan[5] = float32(math.NaN())
	cases := []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"not FITS", []byte("hello"), ErrCorrupt, "not a FITS file"},
		{"npy bytes", EncodeNPY(testImage(3, 4, 4)), ErrCorrupt, "not a FITS file"},
		{"truncated data", cube[:len(cube)-fitsBlock], ErrCorrupt, "claims more data"},
		{"truncated header", cube[:1000], ErrCorrupt, "less than one 2880-byte header"},
		{"partial trailing block", append(append([]byte{}, cube...), 1, 2, 3), ErrCorrupt, "reading FITS"},
		{"no END", bytes.Repeat([]byte(fmt.Sprintf("%-80s", "SIMPLE  =                    T")), 36), ErrCorrupt, "no END"},
		{"one band", fitsBytes(t, fitsHDU{bitpix: -32, axes: []int{4, 4}, data: plane()}), ErrShape, "one band of a cutout (filter unnamed); upload the object's g, r and i files together"},
		{"two bands", fitsBytes(t, fitsHDU{bitpix: 8}, fitsHDU{bitpix: -32, axes: []int{4, 4}, data: plane()}, fitsHDU{bitpix: -32, axes: []int{4, 4}, data: plane()}), ErrShape, "found 2 image HDUs"},
		{"mismatched bands", fitsBytes(t, fitsHDU{bitpix: 8}, fitsHDU{bitpix: -32, axes: []int{4, 4}, data: plane()}, fitsHDU{bitpix: -32, axes: []int{2, 8}, data: plane()}, fitsHDU{bitpix: -32, axes: []int{4, 4}, data: plane()}), ErrShape, "(4, 4), (8, 2), (4, 4)"},
		{"2,000 bands", fitsBytes(t, slices.Repeat([]fitsHDU{{bitpix: 8, axes: []int{1, 1}, data: []uint8{1}}}, 2000)...), ErrShape, "found 2000 image HDUs of shape (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), ... (1994 more)"},
		{"cube of 4", fitsBytes(t, fitsHDU{bitpix: -32, axes: []int{2, 2, 4}, data: plane()}), ErrShape, "NAXIS3 = 4"},
		{"empty", fitsBytes(t, fitsHDU{bitpix: 8}), ErrShape, "no image data"},
		{"NaN", fitsBytes(t, fitsHDU{bitpix: -32, axes: []int{4, 4, 3}, data: nan}), ErrNonFinite, "band g at y=1, x=1"},
		{"float NAXIS", fitsHeaderOnly("SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                  2.5"), ErrCorrupt, "NAXIS"},
		{"CONTINUE first", fitsHeaderOnly("SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0", "CONTINUE  'x'"), ErrCorrupt, "fits reader"},
		{"BITPIX 12", fitsHeaderOnly("SIMPLE  =                    T", "BITPIX  =                   12", "NAXIS   =                    3", "NAXIS1  =                    1", "NAXIS2  =                    1", "NAXIS3  =                    3"), ErrCorrupt, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeFITS(c.b)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, c.want, c.msg)
			}
			_, err = DecodeImage("cands/x.fits", c.b, ReadOptions{})
			if !strings.HasPrefix(fmt.Sprint(err), "data: cands/x.fits: ") {
				t.Errorf("DecodeImage error %q does not name the file", err)
			}
		})
	}
}
