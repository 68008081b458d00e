package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeRasterChannels(t *testing.T) {
	rgb := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	rgb.Set(0, 0, color.NRGBA{R: 255, G: 51, B: 0, A: 255})
	rgb.Set(2, 1, color.NRGBA{R: 0, G: 255, B: 102, A: 128}) // half transparent: colour kept
	deep := image.NewNRGBA64(image.Rect(0, 0, 3, 2))
	deep.Set(1, 1, color.NRGBA64{R: 1, G: 0x8000, B: 0xffff, A: 0xffff})
	cases := []struct {
		name    string
		b       []byte
		y, x    int
		g, r, i float32
	}{
		{"8-bit corner", encodePNG(t, rgb), 0, 0, 0, 0.2, 1},
		{"8-bit translucent", encodePNG(t, rgb), 1, 2, 0.4, 1, 0},
		{"16-bit", encodePNG(t, deep), 1, 1, 1, float32(0x8000) / 0xffff, float32(1) / 0xffff},
	}
	for _, c := range cases {
		im, err := DecodeImage("cut.png", c.b, ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if im.C != 3 || im.H != 2 || im.W != 3 {
			t.Fatalf("%s: shape (%d,%d,%d), want (3,2,3)", c.name, im.C, im.H, im.W)
		}
		got := [3]float32{im.At(0, c.y, c.x), im.At(1, c.y, c.x), im.At(2, c.y, c.x)}
		want := [3]float32{c.g, c.r, c.i}
		for k := range got {
			if math.Abs(float64(got[k]-want[k])) > 1e-6 {
				t.Errorf("%s: (g, r, i) = %v, want %v", c.name, got, want)
				break
			}
		}
	}
}

func TestDecodeJPEG(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			src.Set(x, y, color.RGBA{R: 200, G: 100, B: 50, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	im, err := DecodeImage("cut.JPEG", buf.Bytes(), ReadOptions{Crop: 8})
	if err != nil {
		t.Fatal(err)
	}
	// JPEG is lossy: a flat colour comes back within a few levels.
	for c, want := range []float32{50.0 / 255, 100.0 / 255, 200.0 / 255} {
		if got := im.At(c, 4, 4); math.Abs(float64(got-want)) > 0.03 {
			t.Errorf("band %s = %v, want about %v", Bands[c], got, want)
		}
	}
}

// pngHeaderOnly returns a PNG signature and an IHDR chunk claiming w x h.
func pngHeaderOnly(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := []byte("IHDR")
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 2, 0, 0, 0) // 8-bit RGB
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

func TestDecodeRasterBad(t *testing.T) {
	good := encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 8, 8)))
	cases := map[string][]byte{
		"truncated png": good[:len(good)-20],
		"not a picture": []byte("GIF89a but not really"),
		"empty canvas":  pngHeaderOnly(0, 8),
	}
	for name, b := range cases {
		_, err := DecodeImage("up/x.png", b, ReadOptions{})
		var fe *FileError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &fe) || fe.File != "up/x.png" {
			t.Errorf("%s: err = %v, want ErrCorrupt naming up/x.png", name, err)
		}
	}
}
