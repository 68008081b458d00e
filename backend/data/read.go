// # Reading images
//
// ReadImage and DecodeImage pick the decoder from the file extension (case
// insensitive; a trailing .gz is decompressed first):
//
//   - .npy: a (3, H, W) float32 or float64 array, little or big endian, C or
//     Fortran order, read through github.com/sbinet/npyio.
//   - .fits, .fit, .fts: either one cube with NAXIS1 = W, NAXIS2 = H, NAXIS3 = 3
//     (planes g, r, i; reordered when BANDS or BAND0..2 name them, as
//     Legacy Surveys cutouts do, and refused when they are not g, r and i),
//     or three 2-d image HDUs of equal size (in g, r, i order, or ordered by
//     the bands their FILTER, BAND or EXTNAME keywords name: HSC-G, DECam
//     r, i). A single 2-d image, such as an HSC cutout-service file (IMAGE
//     with MASK and VARIANCE extensions), is one band: DecodeBand reads it
//     (blanking pixels its MASK flags NO_DATA, SAT or BAD) and CombineBands
//     stacks an object's g, r and i files. DecodeCutout also returns the
//     file's OBJECT, its sky position (the WCS at the centre, else RA/DEC or
//     OBJRA/OBJDEC keywords; see backend/sky) and band names. An empty
//     primary HDU and table HDUs are ignored. BITPIX 8, 16, 32,
//     64, -32 and -64 are read through github.com/astrogo/fitsio, which does
//     not apply BSCALE and BZERO (v0.3.0), so they are applied here
//     (value = BZERO + BSCALE * stored), and integer pixels equal to BLANK
//     become NaN. Rows keep their file order, as astropy hands them to numpy.
//   - .png, .jpg, .jpeg: a lossy path for quick looks only. The picture is
//     read as RGB with R = i, G = r, B = g, each channel scaled to [0, 1]
//     (stored value / 255, or / 65535 for 16-bit PNG). Flux calibration,
//     negative sky values and any dynamic range beyond the 8 or 16 stored
//     bits are lost, and JPEG adds compression artefacts: scores of such
//     cutouts are not comparable with scores of .npy or FITS cutouts.
//
// Every decoder returns a float32 (3, H, W) image, centre-cropped to
// ReadOptions.Crop when set, with every pixel finite (NaN and Inf are an
// error, or replaced by 0 with ReadOptions.ReplaceNonFinite). Inputs are
// untrusted: sizes claimed by a header are checked against the input length
// before anything is allocated, inputs larger than MaxFileBytes are refused,
// images wider or taller than MaxSide are refused from their header before
// their pixels are decoded (ErrTooLarge), and a malformed file yields a
// *FileError naming it, never a panic.
package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// MaxFileBytes bounds the size of one input file, after gzip decompression.
// Cutouts are a few hundred KB; the largest valid one, a MaxSide x MaxSide
// float64 cube, is 25 MB.
const MaxFileBytes = 32 << 20

// MaxSide is the largest height or width, in pixels, of an image the
// readers decode. A cutout is at most a few hundred pixels a side; the cap
// bounds a decoded image at 3 x 1024 x 1024 float32 (12 MB), whatever a
// small compressed file claims.
const MaxSide = 1024

// Categories of bad input; match them with errors.Is.
var (
	ErrFormat    = errors.New("unsupported format")
	ErrCorrupt   = errors.New("corrupt")
	ErrShape     = errors.New("wrong shape")
	ErrNonFinite = errors.New("non-finite pixels")
	ErrTooSmall  = errors.New("smaller than the crop")
	ErrTooLarge  = errors.New("too large")
	// ErrSingleBand (with ErrShape): the file holds one band of a cutout,
	// to be read with DecodeBand and stacked with CombineBands.
	ErrSingleBand = errors.New("one band of a cutout")
)

// FileError is a problem with one input file.
type FileError struct {
	File string // the name given to ReadImage or DecodeImage, or DIR-relative in scans
	Err  error  // the reason, wrapping one of the Err* categories
}

func (e *FileError) Error() string { return "data: " + e.File + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// ReadOptions says how images are post-processed after decoding.
type ReadOptions struct {
	Crop             int  // centre crop size in px, 0 = none
	ReplaceNonFinite bool // replace NaN and Inf pixels by 0 instead of failing
	// ZAsI reads a z band as i when a file's named bands are g, r and z
	// (a Legacy Surveys cutout), instead of refusing it; Meta.Substituted
	// says so.
	ZAsI bool
}

// ReadImage reads the image file at path (see the package doc for formats).
func ReadImage(path string, opt ReadOptions) (Image, error) {
	im, _, err := readImage(path, path, opt)
	return im, err
}

// DecodeImage decodes the contents b of a file called name, such as an
// uploaded cutout; the format comes from name's extension.
func DecodeImage(name string, b []byte, opt ReadOptions) (Image, error) {
	im, _, err := DecodeCutout(name, b, opt)
	return im, err
}

// DecodeCutout is DecodeImage that also returns what the file says about
// the cutout (a FITS file's object name, sky position and band names).
func DecodeCutout(name string, b []byte, opt ReadOptions) (Image, Meta, error) {
	im, meta, _, err := decodeImage(name, b, opt)
	if err != nil {
		return Image{}, Meta{}, &FileError{File: name, Err: err}
	}
	return im, meta, nil
}

// ReadCutout is ReadImage that also returns what the file says about the
// cutout (see DecodeCutout).
func ReadCutout(path string, opt ReadOptions) (Image, Meta, error) {
	b, err := readFileLimited(path)
	if err != nil {
		return Image{}, Meta{}, &FileError{File: path, Err: err}
	}
	return DecodeCutout(path, b, opt)
}

// readImage reads path and reports errors under the name shown to the user;
// it also returns how many non-finite pixels were replaced.
func readImage(path, shown string, opt ReadOptions) (Image, int, error) {
	b, err := readFileLimited(path)
	if err == nil {
		var im Image
		var replaced int
		if im, _, replaced, err = decodeImage(path, b, opt); err == nil {
			return im, replaced, nil
		}
	}
	return Image{}, 0, &FileError{File: shown, Err: err}
}

func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	return readAllLimited(f)
}

// unwrapPathError drops the path from an *os.PathError, since FileError
// already names the file.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxFileBytes)
	}
	return b, nil
}

// checkSide refuses an image of h x w pixels, as its header claims, when
// either side is above MaxSide; kind names the format in the message.
func checkSide(kind string, h, w int) error {
	if h > MaxSide || w > MaxSide {
		return fmt.Errorf("%w: %s is %dx%d pixels (width x height), more than the %dx%d a cutout may have",
			ErrTooLarge, kind, w, h, MaxSide, MaxSide)
	}
	return nil
}

// format is a decoder chosen by file extension.
type format int

const (
	formatNone format = iota
	formatNPY
	formatFITS
	formatRaster
)

// formatOf returns the decoder for name and whether name is gzipped.
func formatOf(name string) (format, bool) {
	ext := strings.ToLower(filepath.Ext(name))
	gz := ext == ".gz"
	if gz {
		ext = strings.ToLower(filepath.Ext(strings.TrimSuffix(name, filepath.Ext(name))))
	}
	switch ext {
	case ".npy":
		return formatNPY, gz
	case ".fits", ".fit", ".fts":
		return formatFITS, gz
	case ".png", ".jpg", ".jpeg":
		return formatRaster, gz
	}
	return formatNone, gz
}

// IsImageName reports whether name has an extension ReadImage can decode.
func IsImageName(name string) bool {
	f, _ := formatOf(name)
	return f != formatNone
}

// decodeImage is DecodeCutout without the file name in its errors; it also
// returns how many non-finite pixels were replaced.
func decodeImage(name string, b []byte, opt ReadOptions) (Image, Meta, int, error) {
	if opt.Crop < 0 {
		return Image{}, Meta{}, 0, fmt.Errorf("crop %d is negative", opt.Crop)
	}
	if len(b) > MaxFileBytes {
		return Image{}, Meta{}, 0, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxFileBytes)
	}
	f, _ := formatOf(name)
	if f == formatNone {
		return Image{}, Meta{}, 0, fmt.Errorf("%w: extension %q (want .npy, .fits, .fit, .fts, .png, .jpg or .jpeg, optionally .gz)",
			ErrFormat, filepath.Ext(name))
	}
	b, err := gunzipIfNamed(name, b)
	if err != nil {
		return Image{}, Meta{}, 0, err
	}
	var im Image
	var meta Meta
	switch f {
	case formatNPY:
		im, err = decodeNPYRaw(b)
	case formatFITS:
		im, meta, err = decodeFITSRaw(b, opt.ZAsI)
	case formatRaster:
		im, err = decodeRaster(b)
	}
	if err != nil {
		return Image{}, Meta{}, 0, err
	}
	im, replaced, err := finish(im, opt)
	return im, meta, replaced, err
}

// gunzipIfNamed decompresses b when name ends in .gz, within MaxFileBytes.
func gunzipIfNamed(name string, b []byte) ([]byte, error) {
	if _, gz := formatOf(name); !gz {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
	}
	if b, err = readAllLimited(zr); err != nil {
		if errors.Is(err, ErrFormat) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
	}
	return b, nil
}

// finish checks the channel count, crops, and checks (or replaces) the
// non-finite pixels of the returned window only: NaN borders outside the crop
// never reach a model. It returns the number of replaced pixels.
func finish(im Image, opt ReadOptions) (Image, int, error) {
	if im.C != len(Bands) {
		return Image{}, 0, fmt.Errorf("%w: want %d channels (g, r, i), got %d", ErrShape, len(Bands), im.C)
	}
	if im.H < 1 || im.W < 1 {
		return Image{}, 0, fmt.Errorf("%w: image is %dx%d", ErrShape, im.H, im.W)
	}
	if opt.Crop > 0 {
		if im.H < opt.Crop || im.W < opt.Crop {
			return Image{}, 0, fmt.Errorf("%w: image is %dx%d, crop is %dx%d", ErrTooSmall, im.H, im.W, opt.Crop, opt.Crop)
		}
		im, _ = CenterCrop(im, opt.Crop, opt.Crop)
	}
	bad, first := 0, -1
	for i, v := range im.Pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad == 0 {
		return im, 0, nil
	}
	if !opt.ReplaceNonFinite {
		hw := im.H * im.W
		return Image{}, 0, fmt.Errorf("%w: %d of %d pixels are NaN or Inf (first %v in band %s at y=%d, x=%d)",
			ErrNonFinite, bad, len(im.Pix), im.Pix[first], Bands[first/hw], first%hw/im.W, first%im.W)
	}
	for i, v := range im.Pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			im.Pix[i] = 0
		}
	}
	return im, bad, nil
}
