// Package data reads, validates and writes lensing cutouts and their splits.
//
// An image is a channels-first float32 cube (C, H, W) with the bands in g, r, i
// order, as the seed's .npy files store them. Pixel values are in the units of
// the source files; the simulator writes counts per second scaled to the
// survey's zero point (see backend/sim).
package data

import (
	"fmt"
	"math"

	"github.com/sslens/sslens/backend/layout"
)

// Bands names the channels of an image, in file order.
var Bands = [3]string{"g", "r", "i"}

// Label is the class of a cutout. Lens is the positive class for every metric;
// Unlabelled cutouts (imported survey data) train self-supervised methods only.
type Label int

const (
	Unlabelled Label = -1
	NonLens    Label = 0
	Lens       Label = 1
)

// Labels are the classes in the order datasets list them: lenses first.
var Labels = [3]Label{Lens, NonLens, Unlabelled}

// ClassDirs maps a label to the folder that holds its images.
var ClassDirs = map[Label]string{Lens: layout.LensDir, NonLens: layout.NonLensDir, Unlabelled: layout.UnlabelledDir}

// Image is a channels-first cutout: Pix[(c*H+y)*W+x].
type Image struct {
	C, H, W int
	Pix     []float32
}

// NewImage returns a zeroed (c, h, w) image.
func NewImage(c, h, w int) Image {
	return Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// At returns the pixel of channel c at row y, column x.
func (im Image) At(c, y, x int) float32 { return im.Pix[(c*im.H+y)*im.W+x] }

// Set stores v at channel c, row y, column x.
func (im Image) Set(c, y, x int, v float32) { im.Pix[(c*im.H+y)*im.W+x] = v }

// Plane returns channel c as an H*W row-major slice sharing im's storage.
func (im Image) Plane(c int) []float32 { return im.Pix[c*im.H*im.W : (c+1)*im.H*im.W] }

// CenterCrop returns the central h x w window of im (a copy). The offsets
// follow torchvision's CenterCrop, int(round((H-h)/2)) with Python's
// round-half-to-even, so odd margins crop the same pixels as the seed.
func CenterCrop(im Image, h, w int) (Image, error) {
	if h > im.H || w > im.W {
		return Image{}, fmt.Errorf("image is %dx%d, smaller than the %dx%d crop", im.H, im.W, h, w)
	}
	top, left := int(math.RoundToEven(float64(im.H-h)/2)), int(math.RoundToEven(float64(im.W-w)/2))
	out := NewImage(im.C, h, w)
	for c := 0; c < im.C; c++ {
		for y := 0; y < h; y++ {
			src := im.Pix[(c*im.H+top+y)*im.W+left:]
			copy(out.Pix[(c*h+y)*w:(c*h+y+1)*w], src[:w])
		}
	}
	return out, nil
}
