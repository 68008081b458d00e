package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG for image.Decode
	_ "image/png"  // registers PNG for image.Decode
	"strings"
)

// decodeRaster reads a PNG or JPEG as (g, r, i) = (B, G, R) / max, the lossy
// path described in the package doc.
func decodeRaster(b []byte) (Image, error) {
	cfg, kind, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return Image{}, fmt.Errorf("%w: reading PNG or JPEG: %v", ErrCorrupt, err)
	}
	// A small compressed file can claim a huge canvas: check before decoding.
	if cfg.Width < 1 || cfg.Height < 1 {
		return Image{}, fmt.Errorf("%w: %s claims %dx%d pixels", ErrCorrupt, kind, cfg.Width, cfg.Height)
	}
	if err := checkSide(strings.ToUpper(kind), cfg.Height, cfg.Width); err != nil {
		return Image{}, err
	}
	src, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return Image{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, kind, err)
	}
	r := src.Bounds()
	im := NewImage(len(Bands), r.Dy(), r.Dx())
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			var rgb [3]float32
			// Non-premultiplied, so semi-transparent pixels keep their
			// colour; PNG's own NRGBA pixels are read as stored.
			switch c := src.At(r.Min.X+x, r.Min.Y+y).(type) {
			case color.NRGBA:
				rgb = [3]float32{float32(c.R) / 0xff, float32(c.G) / 0xff, float32(c.B) / 0xff}
			default:
				n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
				rgb = [3]float32{float32(n.R) / 0xffff, float32(n.G) / 0xffff, float32(n.B) / 0xffff}
			}
			im.Set(0, y, x, rgb[2])
			im.Set(1, y, x, rgb[1])
			im.Set(2, y, x, rgb[0])
		}
	}
	return im, nil
}
