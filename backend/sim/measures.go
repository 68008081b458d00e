package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sslens/sslens/backend/data"
	metrics "github.com/sslens/sslens/backend/eval"
)

// The per-image measures Measure aggregates. Planes are S x S row-major in
// counts per second unless said otherwise.

// arcSNR is the S/N of a lensed source as LensPop (Collett 2015) defines it:
// over the pixels where the noise-free lensed flux src exceeds the pixel's
// noise sigma, sum(src) / sqrt(sum(sigma^2)). It is 0 when no pixel counts.
func arcSNR(src, sigma []float64) float64 {
	var s, v float64
	for k, f := range src {
		if f > sigma[k] {
			s += f
			v += sigma[k] * sigma[k]
		}
	}
	if v == 0 {
		return 0
	}
	return s / math.Sqrt(v)
}

// madScale turns a median absolute deviation into the sigma of a Gaussian.
const madScale = 1.4826

// robustSigma is 1.4826 times the median absolute deviation of v from its
// median; it sorts v in place.
func robustSigma(v []float64) float64 {
	slices.Sort(v)
	med := metrics.Quantile(v, 0.5)
	for k := range v {
		v[k] = math.Abs(v[k] - med)
	}
	slices.Sort(v)
	return madScale * metrics.Quantile(v, 0.5)
}

// pairSums accumulate the Pearson correlation of pairs (a, b).
type pairSums struct {
	n, a, b, aa, bb, ab float64
}

func (p *pairSums) add(a, b float64) {
	p.n++
	p.a += a
	p.b += b
	p.aa += a * a
	p.bb += b * b
	p.ab += a * b
}

func (p *pairSums) merge(q pairSums) {
	p.n += q.n
	p.a += q.a
	p.b += q.b
	p.aa += q.aa
	p.bb += q.bb
	p.ab += q.ab
}

// corr is the Pearson correlation of the pairs added; 0 when either side
// is constant or nothing was added.
func (p pairSums) corr() float64 {
	if p.n == 0 {
		return 0
	}
	cov := p.ab/p.n - p.a/p.n*p.b/p.n
	va, vb := p.aa/p.n-p.a*p.a/(p.n*p.n), p.bb/p.n-p.b*p.b/(p.n*p.n)
	if va <= 0 || vb <= 0 {
		return 0
	}
	return cov / math.Sqrt(va*vb)
}

// neighbourPairs returns the sums of the correlation between each pixel of
// the S x S plane z and its right (x) and lower (y) neighbour.
func neighbourPairs(z []float64, S int) (x, y pairSums) {
	for i := 0; i < S; i++ {
		for j := 0; j < S; j++ {
			if j+1 < S {
				x.add(z[i*S+j], z[i*S+j+1])
			}
			if i+1 < S {
				y.add(z[i*S+j], z[(i+1)*S+j])
			}
		}
	}
	return x, y
}

// cropPlane returns the CropSize x CropSize centre crop of an H x W plane
// (less where the plane is smaller), with the offsets torchvision's
// CenterCrop uses, and the crop's width.
func cropPlane(plane []float32, H, W int) ([]float64, int) {
	h, w := min(CropSize, H), min(CropSize, W)
	top, left := int(math.RoundToEven(float64(H-h)/2)), int(math.RoundToEven(float64(W-w)/2))
	out := make([]float64, 0, h*w)
	for y := top; y < top+h; y++ {
		for _, v := range plane[y*W+left : y*W+left+w] {
			out = append(out, float64(v))
		}
	}
	return out, w
}

// Annulus of the colour feature, arcsec from the crop centre.
const annulusIn, annulusOut = 0.6, 2.0

// fluxFloor keeps the annulus colour finite where noise makes a band's sum
// negative, counts per second.
const fluxFloor = 1e-6

// annulusColour is the g - i colour (magnitudes, zero points zpG and zpI) of
// the light in the annulus 0.6"-2.0" around the centre of square crops g and
// i of side S, pixel scale pix (arcsec).
func annulusColour(g, i []float64, S int, pix, zpG, zpI float64) float64 {
	var fg, fi float64
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			dx, dy := (float64(x)+0.5-float64(S)/2)*pix, (float64(y)+0.5-float64(S)/2)*pix
			if r := math.Hypot(dx, dy); r >= annulusIn && r <= annulusOut {
				fg += g[y*S+x]
				fi += i[y*S+x]
			}
		}
	}
	return (zpG - zpI) - 2.5*math.Log10(max(fg, fluxFloor)/max(fi, fluxFloor))
}

// asymmetry is 1 minus the correlation of the square crop (side S) with its
// rotation by 180 degrees about the centre: 0 for a point-symmetric image.
func asymmetry(crop []float64, S int) float64 {
	var p pairSums
	n := S * S
	for k, v := range crop {
		p.add(v, crop[n-1-k])
	}
	return 1 - p.corr()
}

// neighbour is a field galaxy as drawField records it in Params.Contaminants.
type neighbour struct{ x, y, magI float64 }

// neighbours parses the field galaxies out of contaminant descriptions
// "galaxy(x=..,y=..,i=..,colour)".
func neighbours(contaminants []string) ([]neighbour, error) {
	var out []neighbour
	for _, c := range contaminants {
		if !strings.HasPrefix(c, "galaxy(") {
			continue
		}
		var n neighbour
		if _, err := fmt.Sscanf(c, "galaxy(x=%g,y=%g,i=%g,", &n.x, &n.y, &n.magI); err != nil {
			return nil, fmt.Errorf("sim: contaminant %q: %w", c, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// badColumnBand returns the band index of a bad column among contaminants,
// or -1.
func badColumnBand(contaminants []string) int {
	for _, c := range contaminants {
		for b, name := range data.Bands {
			if strings.HasPrefix(c, "bad_column(band="+name+",") {
				return b
			}
		}
	}
	return -1
}
