package augment

import (
	"slices"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

func TestRot90(t *testing.T) {
	// numpy.rot90([[1, 2], [3, 4]]) == [[2, 4], [1, 3]]; k=-1 == k=3 == [[3, 1], [4, 2]].
	tests := []struct {
		k    int
		want []float32
	}{
		{0, []float32{1, 2, 3, 4}},
		{1, []float32{2, 4, 1, 3}},
		{2, []float32{4, 3, 2, 1}},
		{3, []float32{3, 1, 4, 2}},
		{-1, []float32{3, 1, 4, 2}},
		{5, []float32{2, 4, 1, 3}},
	}
	for _, tt := range tests {
		im := data.Image{C: 1, H: 2, W: 2, Pix: []float32{1, 2, 3, 4}}
		if err := Rot90(im, tt.k); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(im.Pix, tt.want) {
			t.Errorf("Rot90 k=%d = %v, want %v", tt.k, im.Pix, tt.want)
		}
	}
}

func TestRot90FourTimesIsIdentity(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 20, 32} {
		im := randomImage(3, n, n, newRNG(uint64(n)))
		orig := slices.Clone(im.Pix)
		for range 4 {
			if err := Rot90(im, 1); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(im.Pix, orig) {
			t.Errorf("%dx%d: four quarter turns changed the image", n, n)
		}
		// One turn of a 3x3 moves the top-right corner to the top-left.
		if n == 3 {
			want := im.At(1, 0, 2)
			Rot90(im, 1)
			if got := im.At(1, 0, 0); got != want {
				t.Errorf("3x3 turn: top-left = %v, want old top-right %v", got, want)
			}
		}
	}
}

func TestRot90NonSquare(t *testing.T) {
	im := data.Image{C: 1, H: 2, W: 3, Pix: []float32{1, 2, 3, 4, 5, 6}}
	if err := Rot90(im, 1); err == nil {
		t.Error("odd turn of a 2x3 image: no error")
	}
	if err := Rot90(im, 2); err != nil || !slices.Equal(im.Pix, []float32{6, 5, 4, 3, 2, 1}) {
		t.Errorf("half turn of a 2x3 image = %v, %v", im.Pix, err)
	}
}

func TestFlips(t *testing.T) {
	// Two bands of a 2x3 image.
	pix := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	tests := []struct {
		name string
		flip func(data.Image)
		want []float32
	}{
		{"horizontal", HFlip, []float32{3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10}},
		{"vertical", VFlip, []float32{4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9}},
	}
	for _, tt := range tests {
		im := data.Image{C: 2, H: 2, W: 3, Pix: slices.Clone(pix)}
		tt.flip(im)
		if !slices.Equal(im.Pix, tt.want) {
			t.Errorf("%s flip = %v, want %v", tt.name, im.Pix, tt.want)
		}
		tt.flip(im)
		if !slices.Equal(im.Pix, pix) {
			t.Errorf("%s flip twice = %v, want the original", tt.name, im.Pix)
		}
	}
}
