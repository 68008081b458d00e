package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sslens/sslens/backend/data"
)

// Normalization is the per-band affine map views are expressed in:
// normalised = (flux - Mean[c]) / Std[c], bands g, r, i.
type Normalization struct{ Mean, Std [3]float32 }

// SeedNormalization returns the statistics of the seed's training split:
// the per-band mean over the train centre crops and the mean of the
// per-image standard deviations.
func SeedNormalization() Normalization {
	return Normalization{
		Mean: [3]float32{0.1995, 0.6668, 1.2940},
		Std:  [3]float32{0.2700, 0.9861, 2.1648},
	}
}

// Validate rejects non-finite means and non-positive or non-finite stds.
func (n Normalization) Validate() error {
	for c := range 3 {
		m, s := float64(n.Mean[c]), float64(n.Std[c])
		if math.IsNaN(m) || math.IsInf(m, 0) || !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("augment: normalisation of band %s: mean %v, std %v: want a finite mean and a positive finite std", data.Bands[c], m, s)
		}
	}
	return nil
}

// Normalize maps the fluxes of a 3-band image to normalised units, in place.
func Normalize(im data.Image, n Normalization) error {
	if im.C != 3 {
		return fmt.Errorf("augment: normalise: want 3 bands, got %d", im.C)
	}
	for c := range 3 {
		m, inv := n.Mean[c], 1/n.Std[c]
		p := im.Plane(c)
		for i, v := range p {
			p[i] = (v - m) * inv
		}
	}
	return nil
}

// Denormalize maps a normalised 3-band image back to fluxes, in place.
func Denormalize(im data.Image, n Normalization) error {
	if im.C != 3 {
		return fmt.Errorf("augment: denormalise: want 3 bands, got %d", im.C)
	}
	for c := range 3 {
		m, s := n.Mean[c], n.Std[c]
		p := im.Plane(c)
		for i, v := range p {
			p[i] = v*s + m
		}
	}
	return nil
}

// ColorJitter scales im's brightness and contrast by factors drawn uniformly
// from [max(0, 1-brightness), 1+brightness] and [max(0, 1-contrast),
// 1+contrast], in a random order, as torchvision's ColorJitter does, in
// place. Brightness multiplies every value (on fluxes, zero stays zero);
// contrast scales each band's deviations from its own mean, so band means
// (colours) are kept. Nothing is clamped: fluxes, raw or normalised, are not
// confined to [0, 1].
func ColorJitter(im data.Image, brightness, contrast float64, rng *rand.Rand) {
	contrastFirst := rng.IntN(2) == 0
	fb := factor(brightness, rng)
	fc := factor(contrast, rng)
	if contrastFirst {
		scaleContrast(im, fc)
	}
	for i, v := range im.Pix {
		im.Pix[i] = v * fb
	}
	if !contrastFirst {
		scaleContrast(im, fc)
	}
}

func factor(x float64, rng *rand.Rand) float32 {
	lo := max(0, 1-x)
	return float32(lo + (1+x-lo)*rng.Float64())
}

func scaleContrast(im data.Image, f float32) {
	for c := 0; c < im.C; c++ {
		p := im.Plane(c)
		var sum float64
		for _, v := range p {
			sum += float64(v)
		}
		m := float32(sum / float64(len(p)))
		for i, v := range p {
			p[i] = (v-m)*f + m
		}
	}
}
