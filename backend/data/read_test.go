package data

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeNPYLayouts(t *testing.T) {
	want := testImage(3, 5, 7) // H != W catches swapped axes
	for _, descr := range []string{"<f4", ">f4", "<f8", ">f8"} {
		for _, fortran := range []bool{false, true} {
			b := encodeNPYAs(want, descr, fortran)
			got, err := DecodeNPY(b)
			if err != nil {
				t.Fatalf("%s fortran=%v: %v", descr, fortran, err)
			}
			sameImage(t, got, want)

			got, err = ReadNPY(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("ReadNPY %s fortran=%v: %v", descr, fortran, err)
			}
			sameImage(t, got, want)

			path := filepath.Join(t.TempDir(), "x.npy")
			writeFile(t, path, b)
			got, err = ReadImage(path, ReadOptions{})
			if err != nil {
				t.Fatalf("ReadImage %s fortran=%v: %v", descr, fortran, err)
			}
			sameImage(t, got, want)
		}
	}
}

func TestEncodeNPYRoundTrip(t *testing.T) {
	want := testImage(3, 4, 6)
	got, err := DecodeNPY(EncodeNPY(want))
	if err != nil {
		t.Fatal(err)
	}
	sameImage(t, got, want)
}

func TestReadImageCrop(t *testing.T) {
	im := testImage(3, 41, 36)
	for _, crop := range []int{32, 36, 1} {
		want, err := CenterCrop(im, crop, crop)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeImage("a.npy", EncodeNPY(im), ReadOptions{Crop: crop})
		if err != nil {
			t.Fatalf("crop %d: %v", crop, err)
		}
		sameImage(t, got, want)
	}
}

// npyWith returns a (3,4,4) float32 .npy with pixel i set to v.
func npyWith(i int, v float32) []byte {
	im := testImage(3, 4, 4)
	im.Pix[i] = v
	return EncodeNPY(im)
}

func TestDecodeImageBadInput(t *testing.T) {
	good := EncodeNPY(testImage(3, 4, 4))
	hdr := func(h string) []byte { return npyFile(h, make([]byte, 3*4*4*4)) }
	cases := []struct {
		name, file string
		b          []byte
		opt        ReadOptions
		want       error
		msg        string // part of the message
	}{
		{"truncated data", "lenses/1.npy", good[:len(good)-5], ReadOptions{}, ErrCorrupt, "needs 192 bytes of data, file has 187"},
		{"trailing data", "lenses/1.npy", append(append([]byte{}, good...), 0, 0, 0, 0), ReadOptions{}, ErrCorrupt, "file has 196"},
		{"truncated header", "lenses/1.npy", good[:40], ReadOptions{}, ErrCorrupt, "header claims"},
		{"empty file", "lenses/1.npy", nil, ReadOptions{}, ErrCorrupt, "magic"},
		{"bad magic", "lenses/1.npy", append([]byte("\x93NUMPX"), good[6:]...), ReadOptions{}, ErrCorrupt, "magic"},
		{"bad version", "lenses/1.npy", append(append([]byte{}, good[:6]...), append([]byte{9, 0}, good[8:]...)...), ReadOptions{}, ErrCorrupt, "unsupported npy version 9.0"},
		{"header without newline", "lenses/1.npy", append([]byte("\x93NUMPY\x01\x00\x04\x00"), "{'de"...), ReadOptions{}, ErrCorrupt, ""},
		{"garbled dict", "lenses/1.npy", hdr("{'shape': (3, 4, 4), 'descr': '<f4', 'fortran_order': False, }"), ReadOptions{}, ErrCorrupt, ""},
		{"bad fortran flag", "lenses/1.npy", hdr("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3, 4, 4), }"), ReadOptions{}, ErrCorrupt, "fortran_order"},
		{"2 dims", "lenses/1.npy", hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (12, 16), }"), ReadOptions{}, ErrShape, "want 3 dimensions"},
		{"4 dims", "lenses/1.npy", hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 4, 4), }"), ReadOptions{}, ErrShape, "want 3 dimensions"},
		{"1 channel", "lenses/6753.npy", EncodeNPY(testImage(1, 4, 4)), ReadOptions{}, ErrShape, "want 3 channels (g, r, i), got 1"},
		{"channels last", "cutout.npy", EncodeNPY(testImage(32, 32, 3)), ReadOptions{}, ErrShape, "looks channels-last (H, W, 3); transpose it to (3, H, W)"},
		{"negative axis", "lenses/1.npy", hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4, -4), }"), ReadOptions{}, ErrShape, "empty or negative"},
		{"empty axis", "lenses/1.npy", hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0, 4), }"), ReadOptions{}, ErrShape, "empty or negative"},
		{"int dtype", "lenses/1.npy", hdr("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4, 4), }"), ReadOptions{}, ErrFormat, "float32 or float64"},
		{"NaN", "lenses/1.npy", npyWith(17, float32(math.NaN())), ReadOptions{}, ErrNonFinite, "1 of 48 pixels are NaN or Inf (first NaN in band r at y=0, x=1)"},
		{"Inf", "lenses/1.npy", npyWith(40, float32(math.Inf(-1))), ReadOptions{}, ErrNonFinite, "band i at y=2, x=0"},
		{"float64 overflow", "lenses/1.npy", encodeNPYAs(testImageWith(5, 1e300), "<f8", false), ReadOptions{}, ErrNonFinite, "+Inf"},
		{"smaller than crop", "lenses/1.npy", good, ReadOptions{Crop: 32}, ErrTooSmall, "image is 4x4, crop is 32x32"},
		{"unknown extension", "lenses/1.tif", good, ReadOptions{}, ErrFormat, `extension ".tif"`},
		{"bad gzip", "lenses/1.npy.gz", good, ReadOptions{}, ErrCorrupt, "gzip"},
		{"truncated gzip", "lenses/1.npy.gz", gzipBytes(t, good)[:30], ReadOptions{}, ErrCorrupt, "gzip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeImage(c.file, c.b, c.opt)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "data: "+c.file+": ") || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q: want the file %s and %q", err, c.file, c.msg)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != c.file {
				t.Errorf("want a *FileError for %s, got %#v", c.file, err)
			}
		})
	}
}

// testImageWith returns testImage(3,4,4) with pixel i set to v, as float64
// is needed for values beyond float32.
func testImageWith(i int, v float64) Image {
	im := testImage(3, 4, 4)
	im.Pix[i] = float32(v)
	return im
}

func TestReplaceNonFinite(t *testing.T) {
	im := testImage(3, 6, 6)
	im.Pix[0] = float32(math.NaN())  // corner of band g: outside a 4x4 crop
	im.Pix[7] = float32(math.Inf(1)) // band g, y=1, x=1: inside it
	b := EncodeNPY(im)
	if _, err := DecodeImage("a.npy", b, ReadOptions{Crop: 4}); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("Inf inside the crop: err = %v, want ErrNonFinite", err)
	}
	got, _, n, err := decodeImage("a.npy", b, ReadOptions{ReplaceNonFinite: true})
	if err != nil || n != 2 {
		t.Fatalf("replace: n = %d, err = %v; want 2 replaced", n, err)
	}
	if got.Pix[0] != 0 || got.Pix[7] != 0 || got.Pix[1] != im.Pix[1] {
		t.Errorf("replaced pixels %v %v (want 0 0), neighbour %v (want %v)", got.Pix[0], got.Pix[7], got.Pix[1], im.Pix[1])
	}
	// Only the window that is returned counts: the NaN corner is cropped away.
	im.Pix[7] = 1
	if _, err := DecodeImage("a.npy", EncodeNPY(im), ReadOptions{Crop: 4}); err != nil {
		t.Errorf("NaN outside the crop: %v", err)
	}
}

func TestDecodeImageGzip(t *testing.T) {
	want := testImage(3, 5, 5)
	got, err := DecodeImage("cut.NPY.GZ", gzipBytes(t, EncodeNPY(want)), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameImage(t, got, want)
}

func TestReadImageMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.npy")
	_, err := ReadImage(path, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v, want the path and 'no such file'", err)
	}
}

// TestHugeShapeAllocatesLittle checks that sizes claimed by a header are
// checked against the file and MaxSide before anything is allocated.
func TestHugeShapeAllocatesLittle(t *testing.T) {
	cases := map[string][]byte{
		"npy 3x1e9x1e9":   npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1000000000, 1000000000), }", make([]byte, 36)),
		"npy overflowing": npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4611686018427387904, 4611686018427387904), }", nil),
		"npy v2 header":   append([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"), make([]byte, 90)...),
		"fits 1e5 cube":   fitsHeaderOnly("SIMPLE  =                    T", "BITPIX  =                  -64", "NAXIS   =                    3", "NAXIS1  =               100000", "NAXIS2  =               100000", "NAXIS3  =                    3"),
		"fits NAXIS 1e9":  fitsHeaderOnly("SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =           1000000000"),
		"fits TFIELDS":    append(fitsHeaderOnly("SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0"), fitsHeaderOnly("XTENSION= 'BINTABLE'", "BITPIX  =                    8", "NAXIS   =                    2", "NAXIS1  =                    0", "NAXIS2  =                    0", "TFIELDS =         999999999999")...),
	}
	for name, b := range cases {
		ext := ".npy"
		if strings.HasPrefix(name, "fits") {
			ext = ".fits"
		}
		var err error
		d := allocatedBytes(func() { _, err = DecodeImage("x"+ext, b, ReadOptions{}) })
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err = %v, want ErrCorrupt or ErrTooLarge", name, err)
		}
		if d > 1<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", name, d, len(b))
		}
	}
}

func TestIsImageName(t *testing.T) {
	for name, want := range map[string]bool{
		"a.npy": true, "a.NPY": true, "a.fits": true, "a.fit": true, "a.fts.gz": true, "a.png": true,
		"a.jpeg": true, "a.JPG": true, "a.npy.gz": true, "a.gz": false, "a.txt": false, "npy": false, ".DS_Store": false,
	} {
		if got := IsImageName(name); got != want {
			t.Errorf("IsImageName(%q) = %v, want %v", name, got, want)
		}
	}
}
