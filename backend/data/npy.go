package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/sbinet/npyio/npy"
	"github.com/sslens/sslens/backend/atomicfile"
)

// EncodeNPY returns im as a little-endian float32 C-order .npy (format 1.0)
// of shape (C, H, W). npyio's writer only knows 1-d slices and 2-d matrices,
// so the 3-d header is written here; reading goes through npyio.
func EncodeNPY(im Image) []byte {
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }", im.C, im.H, im.W)
	// Magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes.
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	out := make([]byte, 0, 10+len(header)+4*len(im.Pix))
	out = append(out, "\x93NUMPY\x01\x00"...)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	out = append(out, header...)
	for _, v := range im.Pix {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out
}

// WriteNPY writes im to path as .npy (see EncodeNPY), atomically.
func WriteNPY(path string, im Image) error {
	return atomicfile.WriteBytes(path, EncodeNPY(im))
}

// ReadNPY reads a (3, H, W) float32 or float64 .npy image from r (see
// DecodeNPY).
func ReadNPY(r io.Reader) (Image, error) {
	b, err := readAllLimited(r)
	if err != nil {
		return Image{}, fmt.Errorf("data: npy: %w", err)
	}
	return DecodeNPY(b)
}

// DecodeNPY decodes a (3, H, W) float32 or float64 .npy image, either byte
// order, C or Fortran order, uncropped. NaN and Inf pixels are an error; use
// DecodeImage for cropping or replacing them.
func DecodeNPY(b []byte) (Image, error) {
	im, err := decodeNPYRaw(b)
	if err == nil {
		im, _, err = finish(im, ReadOptions{})
	}
	if err != nil {
		return Image{}, fmt.Errorf("data: npy: %w", err)
	}
	return im, nil
}

// decodeNPYRaw decodes any 3-d float .npy. npyio trusts its header: it
// allocates the header length and the element count it claims, and panics on
// some malformed headers, so both sizes are checked against len(b) first and
// panics are turned into errors.
func decodeNPYRaw(b []byte) (im Image, err error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return Image{}, fmt.Errorf("%w: not an .npy file (no \\x93NUMPY magic)", ErrCorrupt)
	}
	start, hlen := 10, int(binary.LittleEndian.Uint16(b[8:]))
	switch b[6] {
	case 1:
	case 2, 3:
		if len(b) < 12 {
			return Image{}, fmt.Errorf("%w: npy header truncated", ErrCorrupt)
		}
		start, hlen = 12, int(binary.LittleEndian.Uint32(b[8:]))
	default:
		return Image{}, fmt.Errorf("%w: unsupported npy version %d.%d", ErrCorrupt, b[6], b[7])
	}
	if hlen > len(b)-start {
		return Image{}, fmt.Errorf("%w: npy header claims %d bytes, file has %d after the preamble", ErrCorrupt, hlen, len(b)-start)
	}
	defer func() {
		if r := recover(); r != nil {
			im, err = Image{}, fmt.Errorf("%w: malformed npy header: %v", ErrCorrupt, r)
		}
	}()
	rd, err := npy.NewReader(bytes.NewReader(b))
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	d := rd.Header.Descr
	if len(d.Shape) != 3 {
		return Image{}, fmt.Errorf("%w: want 3 dimensions (C, H, W), got shape %v", ErrShape, d.Shape)
	}
	var size int
	switch d.Type {
	case "<f4", ">f4", "|f4", "f4":
		size = 4
	case "<f8", ">f8", "|f8", "f8":
		size = 8
	default:
		return Image{}, fmt.Errorf("%w: npy dtype %q (want float32 or float64)", ErrFormat, d.Type)
	}
	// Refuse by shape, not by content, before the data is read.
	if err := checkSide("npy", d.Shape[1], d.Shape[2]); err != nil {
		return Image{}, err
	}
	data := len(b) - start - hlen
	n := 1
	for _, v := range d.Shape {
		if v < 1 {
			return Image{}, fmt.Errorf("%w: npy shape %v has an empty or negative axis", ErrShape, d.Shape)
		}
		if v > MaxFileBytes/size/n { // n*v*size > MaxFileBytes, without overflow
			return Image{}, fmt.Errorf("%w: npy shape %v of %s claims more than %d bytes, the file has %d",
				ErrCorrupt, d.Shape, d.Type, MaxFileBytes, len(b))
		}
		n *= v
	}
	if d.Shape[0] != len(Bands) {
		if d.Shape[2] == len(Bands) {
			return Image{}, fmt.Errorf("%w: shape %v looks channels-last (H, W, 3); transpose it to (3, H, W), e.g. numpy.moveaxis(a, -1, 0)", ErrShape, d.Shape)
		}
		return Image{}, fmt.Errorf("%w: want %d channels (g, r, i), got %d", ErrShape, len(Bands), d.Shape[0])
	}
	if n*size != data {
		return Image{}, fmt.Errorf("%w: npy shape %v of %s needs %d bytes of data, file has %d",
			ErrCorrupt, d.Shape, d.Type, n*size, data)
	}
	c, h, w := d.Shape[0], d.Shape[1], d.Shape[2]
	pix := make([]float32, n)
	if size == 4 {
		err = rd.Read(&pix)
	} else {
		f64 := make([]float64, n)
		err = rd.Read(&f64)
		for i, v := range f64 {
			pix[i] = float32(v)
		}
	}
	if err != nil {
		return Image{}, fmt.Errorf("%w: npy data: %v", ErrCorrupt, err)
	}
	im = Image{C: c, H: h, W: w, Pix: pix}
	if d.Fortran {
		// Fortran order stores (c, y, x) at c + C*(y + H*x).
		im = NewImage(c, h, w)
		for x := 0; x < w; x++ {
			for y := 0; y < h; y++ {
				for ch := 0; ch < c; ch++ {
					im.Pix[(ch*h+y)*w+x] = pix[ch+c*(y+h*x)]
				}
			}
		}
	}
	return im, nil
}
