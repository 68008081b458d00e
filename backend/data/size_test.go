package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"runtime"
	"strings"
	"testing"
)

// allocatedBytes returns the bytes the Go heap handed out while f ran.
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 64 KB PNG of 4700x4700 pixels once decoded into 750 MB: it is refused
// from its header, allocating next to nothing, with a message naming the
// file, its size and the cap.
func TestHugePNGRefusedBeforeDecoding(t *testing.T) {
	side := 4700
	pal := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.Black, color.White})
	var buf bytes.Buffer
	if err := png.Encode(&buf, pal); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) > 256<<10 {
		t.Fatalf("the attack file is %d bytes, want a small one", len(b))
	}
	var err error
	alloc := allocatedBytes(func() { _, err = DecodeImage("up/huge.png", b, ReadOptions{}) })
	want := "data: up/huge.png: too large: PNG is 4700x4700 pixels (width x height), more than the 1024x1024 a cutout may have"
	if !errors.Is(err, ErrTooLarge) || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if alloc > 1<<20 {
		t.Errorf("refusing a %d-byte PNG allocated %d bytes, want under 1 MB", len(b), alloc)
	}
	// Same through gzip: the cap holds whatever wraps the file.
	if _, err := DecodeImage("up/huge.png.gz", gzipBytes(t, b), ReadOptions{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("gzipped: error %v, want ErrTooLarge", err)
	}
}

// Every format is refused by the size its header claims, before its pixels
// are read (the files below hold no pixels at all), and MaxSide itself is
// accepted.
func TestMaxSideEveryFormat(t *testing.T) {
	fitsCube := func(w, h int) []byte {
		return fitsHeaderOnly("SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    3",
			fmt.Sprintf("NAXIS1  = %20d", w), fmt.Sprintf("NAXIS2  = %20d", h), "NAXIS3  =                    3")
	}
	fitsExt := fitsHeaderOnly("SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0", "EXTEND  =                    T")
	fitsExt = append(fitsExt, fitsHeaderOnly("XTENSION= 'IMAGE   '", "BITPIX  =                  -32", "NAXIS   =                    2",
		"NAXIS1  =                   16", "NAXIS2  =                 1025", "PCOUNT  =                    0", "GCOUNT  =                    1")...)
	cases := []struct {
		name string
		b    []byte
		msg  string
	}{
		{"x.png", pngHeaderOnly(1025, 8), "PNG is 1025x8 pixels"},
		{"x.npy", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2000, 2000), }", nil), "npy is 2000x2000 pixels"},
		{"x.npy", npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 8, 1025), }", nil), "npy is 1025x8 pixels"},
		{"x.fits", fitsCube(4700, 4700), "FITS header 0 is 4700x4700 pixels"},
		{"x.fits", fitsExt, "FITS header 1 is 16x1025 pixels"},
	}
	for _, c := range cases {
		_, err := DecodeImage(c.name, c.b, ReadOptions{})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(fmt.Sprint(err), c.msg) || !strings.Contains(fmt.Sprint(err), "1024x1024") {
			t.Errorf("%s (%s): error %v, want ErrTooLarge saying %q and the cap", c.name, c.msg, err, c.msg)
		}
	}
	im := NewImage(3, 2, MaxSide)
	if got, err := DecodeImage("edge.npy", EncodeNPY(im), ReadOptions{}); err != nil || got.W != MaxSide {
		t.Errorf("a %dx2 npy: %v", MaxSide, err)
	}
	edge := encodePNG(t, image.NewGray(image.Rect(0, 0, MaxSide, 1)))
	if got, err := DecodeImage("edge.png", edge, ReadOptions{}); err != nil || got.W != MaxSide {
		t.Errorf("a %dx1 PNG: %v", MaxSide, err)
	}
}
