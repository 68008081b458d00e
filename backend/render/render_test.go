package render

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

// onePixel returns a 1x1 (3, 1, 1) image with the given g, r, i values.
func onePixel(g, r, i float32) data.Image {
	im := data.NewImage(3, 1, 1)
	copy(im.Pix, []float32{g, r, i})
	return im
}

func TestLuptonHandComputed(t *testing.T) {
	// Stretch 5, Q 8: soften = Q/stretch = 1.6, slope = 25.5/asinh(0.8) = 34.8043.
	astropy := LuptonParams{Stretch: 5, Q: 8, Scale: [3]float64{1, 1, 1}}
	tests := []struct {
		name    string
		p       LuptonParams
		g, r, i float32
		want    color.RGBA
	}{
		// I = 2, factor = asinh(3.2) * 34.8043 / 2 = 32.7137: 98.14, 65.43, 32.71.
		{"faint", astropy, 1, 2, 3, color.RGBA{98, 65, 32, 255}},
		// I = 206.67, factor = asinh(330.67) * 34.8043 / 206.67 = 1.0902: the red
		// band (327.1) saturates, so all scale by 255/327.1: 255, 178.5, 93.5.
		{"saturated keeps colour", astropy, 110, 210, 300, color.RGBA{255, 178, 93, 255}},
		{"negative is black", astropy, -1, -2, -3, color.RGBA{0, 0, 0, 255}},
		// Minimum 1 and scale 2 map (2, 3, 4) to (2, 4, 6): I = 4, factor =
		// asinh(6.4) * 34.8043 / 4 = 22.2354: 133.41, 88.94, 44.47.
		{"minimum and scale", LuptonParams{Stretch: 5, Q: 8, Minimum: [3]float64{1, 1, 1}, Scale: [3]float64{2, 2, 2}},
			2, 3, 4, color.RGBA{133, 88, 44, 255}},
		// A negative band beside a positive mean clips at 0: I = (5+2-1)/3 = 2,
		// factor 32.7137 as above: 163.57, 65.43, -32.7 -> 0.
		{"one band negative", astropy, -1, 2, 5, color.RGBA{163, 65, 0, 255}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Lupton(onePixel(tc.g, tc.r, tc.i), tc.p).RGBAAt(0, 0)
			if got != tc.want {
				t.Errorf("Lupton(g=%g r=%g i=%g) = %v, want %v", tc.g, tc.r, tc.i, got, tc.want)
			}
		})
	}
}

func TestLuptonLayoutAndChannels(t *testing.T) {
	im := data.NewImage(3, 2, 3)
	im.Set(2, 1, 2, 5) // i band only, row 1, column 2: a pure red pixel there
	im.Set(0, 0, 1, 5) // g band only, row 0, column 1: pure blue
	out := Lupton(im, DefaultLupton())
	if b := out.Bounds(); b.Dx() != 3 || b.Dy() != 2 {
		t.Fatalf("bounds %v, want 3x2", b)
	}
	if c := out.RGBAAt(2, 1); c.R == 0 || c.G != 0 || c.B != 0 {
		t.Errorf("i-only pixel = %v, want red only", c)
	}
	if c := out.RGBAAt(1, 0); c.B == 0 || c.R != 0 || c.G != 0 {
		t.Errorf("g-only pixel = %v, want blue only", c)
	}
	if c := out.RGBAAt(0, 0); c != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("empty pixel = %v, want black", c)
	}
	if c := Lupton(data.NewImage(1, 2, 2), DefaultLupton()).RGBAAt(0, 0); c.A != 0 {
		t.Errorf("1-channel image gave %v, want an empty picture", c)
	}
}

func TestStretchMonotonic(t *testing.T) {
	const n = 101
	ramp := make([]float32, n)
	for k := range ramp {
		ramp[k] = float32(k) - 10 // -10 .. 90
	}
	for _, s := range []Stretch{Linear, Sqrt, Log, Asinh} {
		t.Run(s.String(), func(t *testing.T) {
			g := Band(ramp, 1, n, s, 0, 80)
			prev := -1
			for x := 0; x < n; x++ {
				v := int(g.GrayAt(x, 0).Y)
				if v < prev {
					t.Fatalf("not monotonic at x=%d: %d after %d", x, v, prev)
				}
				prev = v
			}
			if g.GrayAt(10, 0).Y != 0 || g.GrayAt(0, 0).Y != 0 {
				t.Errorf("values at or below lo not black")
			}
			if g.GrayAt(90, 0).Y != 255 || g.GrayAt(100, 0).Y != 255 {
				t.Errorf("values at or above hi not white")
			}
			mid := g.GrayAt(50, 0).Y // t = 0.5
			if s == Linear && mid != 128 {
				t.Errorf("linear mid = %d, want 128", mid)
			}
			if s != Linear && mid <= 128 {
				t.Errorf("%v mid = %d, want above linear's 128 (it lifts faint values)", s, mid)
			}
		})
	}
}

func TestBandDegenerate(t *testing.T) {
	g := Band([]float32{1, 2, 3, 4}, 2, 2, Linear, 5, 5)
	for _, v := range g.Pix {
		if v != 0 {
			t.Fatalf("hi == lo gave %v, want black", g.Pix)
		}
	}
	if got := Band([]float32{1}, 2, 2, Linear, 0, 1).Bounds(); got.Dx() != 2 || got.Dy() != 2 {
		t.Errorf("short plane: bounds %v, want 2x2", got)
	}
}

func TestParseStretch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Stretch
		ok   bool
	}{{"linear", Linear, true}, {"Sqrt", Sqrt, true}, {"log", Log, true}, {"ASINH", Asinh, true}, {"gamma", 0, false}} {
		got, err := ParseStretch(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseStretch(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestPercentiles(t *testing.T) {
	ramp := make([]float32, 101)
	for k := range ramp {
		ramp[100-k] = float32(k) // reversed: Percentiles must sort
	}
	nan := float32(0)
	nan = nan / nan
	tests := []struct {
		name           string
		plane          []float32
		plo, phi       float64
		wantLo, wantHi float64
	}{
		{"ramp", ramp, 10, 99.5, 10, 99.5},
		{"interpolates", []float32{4, 1, 3, 2}, 50, 100, 2.5, 4},
		{"clamps", []float32{1, 2}, -5, 150, 1, 2},
		{"ignores NaN", []float32{nan, 1, 3, nan}, 0, 50, 1, 2},
		{"empty", nil, 1, 99, 0, 0},
	}
	for _, tc := range tests {
		lo, hi := Percentiles(tc.plane, tc.plo, tc.phi)
		if lo != tc.wantLo || hi != tc.wantHi {
			t.Errorf("%s: got %g, %g; want %g, %g", tc.name, lo, hi, tc.wantLo, tc.wantHi)
		}
	}
}

func TestUpscale(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 2, 2))
	src.Pix = []uint8{10, 20, 30, 40}
	out := Upscale(src, 3)
	if b := out.Bounds(); b.Dx() != 6 || b.Dy() != 6 {
		t.Fatalf("bounds %v, want 6x6", b)
	}
	for y := 0; y < 6; y++ {
		for x := 0; x < 6; x++ {
			want := src.GrayAt(x/3, y/3).Y
			if c := out.RGBAAt(x, y); c.R != want || c.G != want || c.B != want || c.A != 255 {
				t.Fatalf("(%d,%d) = %v, want grey %d", x, y, c, want)
			}
		}
	}
	if b := Upscale(src, 0).Bounds(); b.Dx() != 2 {
		t.Errorf("factor 0: bounds %v, want 2x2", b)
	}
}

func solid(w, h int, c color.RGBA) *image.RGBA {
	im := image.NewRGBA(image.Rect(0, 0, w, h))
	for k := 0; k < len(im.Pix); k += 4 {
		im.Pix[k], im.Pix[k+1], im.Pix[k+2], im.Pix[k+3] = c.R, c.G, c.B, c.A
	}
	return im
}

func TestGridPlacesTiles(t *testing.T) {
	red, green, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}
	tiles := []Tile{{Img: solid(10, 8, red)}, {Img: solid(6, 6, green)}, {Img: solid(10, 8, blue)}}
	const pad = 2
	t.Run("unlabelled", func(t *testing.T) {
		g := Grid(tiles, 2, pad)
		// cell 10x8: width 2+2*(12) = 26, two rows: 2+2*(10) = 22.
		if b := g.Bounds(); b.Dx() != 26 || b.Dy() != 22 {
			t.Fatalf("bounds %v, want 26x22", b)
		}
		checks := []struct {
			x, y int
			want color.RGBA
		}{
			{2, 2, red}, {11, 9, red}, {12, 2, color.RGBA{0, 0, 0, 255}}, // tile 0 and the gap after it
			{14, 2, green}, {19, 7, green}, {20, 2, color.RGBA{0, 0, 0, 255}}, // tile 1 is 6x6 at (14, 2)
			{2, 12, blue}, {11, 19, blue}, // tile 2 starts row 2 at (2, 12)
			{0, 0, color.RGBA{0, 0, 0, 255}},
		}
		for _, c := range checks {
			if got := g.RGBAAt(c.x, c.y); got != c.want {
				t.Errorf("(%d,%d) = %v, want %v", c.x, c.y, got, c.want)
			}
		}
	})
	t.Run("labelled", func(t *testing.T) {
		lt := append([]Tile(nil), tiles...)
		lt[2].Label = "lens"
		g := Grid(lt, 2, pad)
		// cellH = 8 + LabelHeight: second row starts at 2 + 8 + 15 + 2 = 27.
		if b := g.Bounds(); b.Dy() != pad+2*(8+LabelHeight+pad) {
			t.Fatalf("height %d, want %d", b.Dy(), pad+2*(8+LabelHeight+pad))
		}
		if got := g.RGBAAt(2, 27); got != blue {
			t.Errorf("tile 2 corner = %v, want blue", got)
		}
		var white int
		for y := 27 + 8; y < 27+8+LabelHeight; y++ {
			for x := 2; x < 12; x++ {
				if g.RGBAAt(x, y) == (color.RGBA{255, 255, 255, 255}) {
					white++
				}
			}
		}
		if white == 0 {
			t.Error("no caption drawn under tile 2")
		}
		// Tile 0 has no label: its strip stays black.
		for y := 2 + 8; y < 2+8+LabelHeight; y++ {
			for x := 2; x < 12; x++ {
				if c := g.RGBAAt(x, y); c != (color.RGBA{0, 0, 0, 255}) {
					t.Fatalf("strip of unlabelled tile 0 has %v at (%d,%d)", c, x, y)
				}
			}
		}
	})
}

func TestWritePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.png")
	want := solid(3, 2, color.RGBA{1, 2, 3, 255})
	if err := WritePNG(path, want); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := got.At(2, 1).RGBA(); r>>8 != 1 || g>>8 != 2 || b>>8 != 3 {
		t.Errorf("read back (%d,%d,%d), want (1,2,3)", r>>8, g>>8, b>>8)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("dir holds %d entries, want only a.png (no temporary left)", len(ents))
	}
	if err := WritePNG(filepath.Join(dir, "missing", "b.png"), want); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

func TestFitScale(t *testing.T) {
	for _, tt := range []struct{ h, w, scale, want int }{
		{32, 32, 8, 8}, {48, 48, 5, 5}, {256, 256, 8, 8}, {300, 200, 8, 6}, {1024, 1024, 8, 2},
		{4700, 4700, 8, 1}, {32, 32, 0, 1}, {0, 0, 3, 3},
	} {
		got := FitScale(tt.h, tt.w, tt.scale)
		if got != tt.want || (got > 1 && max(tt.h, tt.w)*got > MaxSide) {
			t.Errorf("FitScale(%d, %d, %d) = %d, want %d", tt.h, tt.w, tt.scale, got, tt.want)
		}
	}
}
