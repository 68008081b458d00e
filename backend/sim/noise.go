package sim

import "math"

// Flux returns the flux (counts per second) of magnitude mag at zero point zp.
func Flux(mag, zp float64) float64 { return math.Pow(10, -0.4*(mag-zp)) }

// Mag returns the magnitude of flux (counts per second) at zero point zp.
func Mag(flux, zp float64) float64 { return zp - 2.5*math.Log10(flux) }

// bandNoise is the per-pixel noise of one band, in counts per second, as
// lenstronomy computes it with a gain: electrons collected over the total
// exposure T are gain*T per count, the sky gives gain*T*S*p^2 electrons per
// pixel, each of the N exposures adds read noise RN, and the source its own
// shot noise. The variance of a pixel of flux F is then
//
//	(N RN^2 + gain T (S p^2 + F)) / (gain T)^2.
//
// Sky and source photon counts are thousands of electrons per pixel, so the
// Poisson noise is drawn as Gaussian with that variance.
type bandNoise struct {
	bkgVar  float64 // variance without source, (counts/s)^2
	perFlux float64 // variance per count/s of source flux
}

func newBandNoise(s Survey, b Band) bandNoise {
	t := b.Exposure * float64(b.Exposures) * b.Gain
	sky := Flux(b.Sky, b.ZeroPoint) * s.PixelScale * s.PixelScale
	return bandNoise{
		bkgVar:  (float64(b.Exposures)*s.ReadNoise*s.ReadNoise + t*sky) / (t * t),
		perFlux: 1 / t,
	}
}

// sigma returns the noise of a pixel with noise-free flux f.
func (n bandNoise) sigma(f float64) float64 { return math.Sqrt(n.bkgVar + n.perFlux*max(f, 0)) }

// SkySigma returns the per-pixel background noise of each band (g, r, i), in
// counts per second: what a sky-subtracted empty pixel scatters by.
func (s Survey) SkySigma() [3]float64 {
	var out [3]float64
	for c, b := range s.Bands.Array() {
		out[c] = math.Sqrt(newBandNoise(s, b).bkgVar)
	}
	return out
}
