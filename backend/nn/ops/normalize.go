package ops

import "math"

// l2NormEps is F.normalize's default eps: rows shorter than it are divided
// by eps instead of their length.
const l2NormEps = 1e-12

// l2NormalizeForward sets y[r] = x[r]/max(‖x[r]‖, eps) for each row of
// x[R, D] and keeps the divisor in norm[R].
func l2NormalizeForward[T Float](y, norm, x []T, rows, cols int) {
	parallelFor(rows, grainFor(2*cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*cols : (r+1)*cols]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			n := max(math.Sqrt(ss), l2NormEps)
			norm[r] = T(n)
			inv := T(1 / n)
			for j, v := range xr {
				y[r*cols+j] = v * inv
			}
		}
	})
}

// l2NormalizeBackward sets dx = (dy - y·(y·dy))/n per row, n the divisor
// of the forward; a row shorter than eps was only scaled, dx = dy/eps.
func l2NormalizeBackward[T Float](dx, dy, y, norm []T, rows, cols int) {
	parallelFor(rows, grainFor(3*cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, dr, out := y[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			inv := 1 / float64(norm[r])
			var dot float64
			if float64(norm[r]) > l2NormEps {
				for j, v := range dr {
					dot += float64(v) * float64(yr[j])
				}
			}
			for j, v := range dr {
				out[j] = T((float64(v) - float64(yr[j])*dot) * inv)
			}
		}
	})
}

// weightNormForward sets w[o] = g[o]·v[o]/‖v[o]‖ for each row of v[O, I]
// (PyTorch's weight_norm with dim 0 on a Linear weight) and keeps ‖v[o]‖
// in norm[O].
func weightNormForward[T Float](w, norm, v, g []T, out, in int) {
	for o := 0; o < out; o++ {
		vr := v[o*in : (o+1)*in]
		var ss float64
		for _, x := range vr {
			ss += float64(x) * float64(x)
		}
		n := math.Sqrt(ss)
		norm[o] = T(n)
		s := T(float64(g[o]) / n)
		for j, x := range vr {
			w[o*in+j] = x * s
		}
	}
}

// weightNormBackwardV sets dv = g/‖v‖·(dw - ŵ·(ŵ·dw)) per row, ŵ = v/‖v‖.
func weightNormBackwardV[T Float](dv, dw, v, g, norm []T, out, in int) {
	for o := 0; o < out; o++ {
		vr, dr := v[o*in:(o+1)*in], dw[o*in:(o+1)*in]
		n := float64(norm[o])
		var dot float64
		for j, x := range vr {
			dot += float64(x) * float64(dr[j])
		}
		dot /= n
		s := float64(g[o]) / n
		for j, x := range vr {
			dv[o*in+j] = T(s * (float64(dr[j]) - float64(x)/n*dot))
		}
	}
}

// weightNormBackwardG sets dg[o] = ŵ[o]·dw[o].
func weightNormBackwardG[T Float](dg, dw, v, norm []T, out, in int) {
	for o := 0; o < out; o++ {
		var dot float64
		for j, x := range v[o*in : (o+1)*in] {
			dot += float64(x) * float64(dw[o*in+j])
		}
		dg[o] = T(dot / float64(norm[o]))
	}
}

// reluForward sets y = max(x, 0).
func reluForward[T Float](y, x []T) {
	parallelFor(len(x), grainFor(2), func(lo, hi int) {
		for i, v := range x[lo:hi] {
			y[lo+i] = max(v, 0)
		}
	})
}

// reluBackward sets dx = dy where the output was positive, else 0.
func reluBackward[T Float](dx, dy, y []T) {
	parallelFor(len(y), grainFor(2), func(lo, hi int) {
		for i, v := range y[lo:hi] {
			if v > 0 {
				dx[lo+i] = dy[lo+i]
			} else {
				dx[lo+i] = 0
			}
		}
	})
}
