package ops

import "math"

// layerNormForward normalises each row of x[R,D] to zero mean and unit
// variance (biased, as PyTorch), then scales by gamma[D] and shifts by
// beta[D]. It keeps each row's mean and 1/sqrt(var+eps) in mean[R], rstd[R]
// for the backward.
func layerNormForward[T Float](y, mean, rstd, x, gamma, beta []T, rows, d int, eps T) {
	parallelFor(rows, grainFor(4*d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*d:(r+1)*d], y[r*d:(r+1)*d]
			var s T
			for _, v := range xr {
				s += v
			}
			m := s / T(d)
			var ss T
			for _, v := range xr {
				ss += (v - m) * (v - m)
			}
			rs := T(1 / math.Sqrt(float64(ss/T(d)+eps)))
			mean[r], rstd[r] = m, rs
			g, b := gamma[:d], beta[:d]
			for j, v := range xr {
				yr[j] = (v-m)*rs*g[j] + b[j]
			}
		}
	})
}

// layerNormBackwardX sets dx from dy through the normalisation:
// dx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) with ĝ = dy·gamma, x̂ = (x-mean)·rstd.
func layerNormBackwardX[T Float](dx, dy, x, mean, rstd, gamma []T, rows, d int) {
	parallelFor(rows, grainFor(6*d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dyr, dxr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d], dx[r*d:(r+1)*d]
			m, rs := mean[r], rstd[r]
			g := gamma[:d]
			var sg, sgx T
			for j, v := range xr {
				gj := dyr[j] * g[j]
				sg += gj
				sgx += gj * (v - m) * rs
			}
			sg /= T(d)
			sgx /= T(d)
			for j, v := range xr {
				dxr[j] = rs * (dyr[j]*g[j] - sg - (v-m)*rs*sgx)
			}
		}
	})
}

// layerNormBackwardGamma sets dgamma[j] = Σ_r dy[r,j]·x̂[r,j].
func layerNormBackwardGamma[T Float](dgamma, dy, x, mean, rstd []T, rows, d int) {
	parallelFor(d, grainFor(2*rows), func(lo, hi int) {
		dg := dgamma[lo:hi]
		clear(dg)
		for r := 0; r < rows; r++ {
			m, rs := mean[r], rstd[r]
			xr, dyr := x[r*d+lo:r*d+hi], dy[r*d+lo:r*d+hi]
			for j, v := range xr {
				dg[j] += dyr[j] * (v - m) * rs
			}
		}
	})
}
