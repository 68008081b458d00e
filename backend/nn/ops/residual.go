package ops

import (
	"math"
	"math/rand/v2"
)

// residualForward sets y = x + f·keep[sample] for x, f, y holding samples of
// per consecutive values each (keep has one entry per sample; nil means all
// ones: drop path off).
func residualForward[T Float](y, x, f, keep []T, per int) {
	parallelFor(len(x), minTaskWork, func(lo, hi int) {
		if keep == nil {
			ys, fs := y[lo:hi], f[lo:hi]
			for i, v := range x[lo:hi] {
				ys[i] = v + fs[i]
			}
			return
		}
		for lo < hi {
			end := min(hi, (lo/per+1)*per)
			k := keep[lo/per]
			ys, fs := y[lo:end], f[lo:end]
			for i, v := range x[lo:end] {
				ys[i] = v + fs[i]*k
			}
			lo = end
		}
	})
}

// dropPathBackward sets df = dy·keep[sample], the gradient through the
// dropped branch (df = dy when keep is nil).
func dropPathBackward[T Float](df, dy, keep []T, per int) {
	if keep == nil {
		copy(df, dy)
		return
	}
	parallelFor(len(dy), minTaskWork, func(lo, hi int) {
		for lo < hi {
			end := min(hi, (lo/per+1)*per)
			k := keep[lo/per]
			ds := df[lo:end]
			for i, v := range dy[lo:end] {
				ds[i] = v * k
			}
			lo = end
		}
	})
}

// samplesKeepMask is keepMask for drop path: m[i] is sample first+i of the
// batch, which draws from its own PCG stream (seed, first+i).
func samplesKeepMask[T Float](m []T, p float64, seed uint64, first int) {
	var src rand.PCG
	for i := range m {
		src.Seed(seed, uint64(first+i))
		keepMask(m[i:i+1], p, &src)
	}
}

// keepMask sets each m[i] to 0 with chance p and to 1/(1-p) otherwise (the
// inverted-dropout scale, as PyTorch's dropout and timm's drop_path), drawing
// one value of src per entry. p must lie in [0, 1).
func keepMask[T Float](m []T, p float64, src *rand.PCG) {
	// A draw u keeps its entry when u >= p·2⁶⁴, which has chance 1-p.
	threshold := uint64(math.Ldexp(p, 64))
	keep := T(1 / (1 - p))
	for i := range m {
		if src.Uint64() >= threshold {
			m[i] = keep
		} else {
			m[i] = 0
		}
	}
}
