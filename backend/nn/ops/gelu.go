package ops

import (
	"math"

	"github.com/sslens/sslens/backend/nn/fastmath"
)

// GELU here is the exact form PyTorch's nn.GELU uses by default
// (approximate='none'): gelu(x) = x·Φ(x) = x/2·(1 + erf(x/√2)), with
// derivative Φ(x) + x·φ(x), φ the standard normal density. Not the tanh
// approximation.

// geluBlock is how many elements the kernels take through erfs or exps at
// a time: small enough to stay in the L1 cache between passes.
const geluBlock = 512

// geluForward sets y = gelu(x) elementwise and keeps Φ(x) in cdf, which
// the backward reads instead of evaluating erf again; float32 with
// fastmath.GELU, float64 with the math package's erf.
func geluForward[T Float](y, cdf, x []T) {
	parallelFor(len(x), grainFor(20), func(lo, hi int) {
		for b := lo; b < hi; b += geluBlock {
			e := min(b+geluBlock, hi)
			xs, cs, ys := x[b:e], cdf[b:e], y[b:e]
			if is32[T]() {
				fastmath.GELU(cast[float32](ys), cast[float32](cs), cast[float32](xs))
				continue
			}
			for i, v := range xs {
				cs[i] = v * (1 / math.Sqrt2)
			}
			erfs(cs, cs)
			for i, v := range xs {
				c := 0.5 + 0.5*cs[i]
				cs[i] = c
				ys[i] = v * c
			}
		}
	})
}

// geluBackward sets dx = dy·(Φ(x) + x·φ(x)) elementwise, Φ(x) from cdf;
// float32 with fastmath.GELUGrad, float64 with the math package's exp.
func geluBackward[T Float](dx, dy, x, cdf []T) {
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	parallelFor(len(x), grainFor(15), func(lo, hi int) {
		for b := lo; b < hi; b += geluBlock {
			e := min(b+geluBlock, hi)
			xs, ds, dys, cs := x[b:e], dx[b:e], dy[b:e], cdf[b:e]
			if is32[T]() {
				fastmath.GELUGrad(cast[float32](ds), cast[float32](dys), cast[float32](xs), cast[float32](cs))
				continue
			}
			for i, v := range xs {
				ds[i] = -v * v / 2
			}
			exps(ds, ds) // dx holds exp(-x²/2) until the last pass
			for i, v := range xs {
				ds[i] = dys[i] * (cs[i] + v*ds[i]*invSqrt2Pi)
			}
		}
	})
}
