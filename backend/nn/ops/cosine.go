package ops

import "math"

// cosineEps bounds the norms in a cosine similarity from below, as
// F.cosine_similarity's eps.
const cosineEps = 1e-8

// pairRow is the row of z that row i of p is compared with: the same image
// in the other view, the rows holding view 0 then view 1.
func pairRow(i, rows int) int { return (i + rows/2) % rows }

// negCosineForward returns -1/R·Σ_i cos(p[i], z[σ(i)]), σ = pairRow, for
// p, z [R, D], and keeps per row the cosine and the clamped norms of p[i]
// and z[σ(i)] for the backward.
func negCosineForward[T Float](cos, pn, zn []float64, p, z []T, rows, cols int) float64 {
	parallelFor(rows, grainFor(6*cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			pr, zr := p[i*cols:(i+1)*cols], z[pairRow(i, rows)*cols:(pairRow(i, rows)+1)*cols]
			var pp, zz, pz float64
			for j, v := range pr {
				a, b := float64(v), float64(zr[j])
				pp += a * a
				zz += b * b
				pz += a * b
			}
			pn[i], zn[i] = math.Sqrt(pp), math.Sqrt(zz)
			cos[i] = pz / (max(pn[i], cosineEps) * max(zn[i], cosineEps))
		}
	})
	var sum float64
	for _, c := range cos[:rows] {
		sum += c
	}
	return -sum / float64(rows)
}

// negCosineBackward sets dp[i] = -g/R·(ẑ - cos_i·p̂)/‖p[i]‖ with ẑ the
// unit z[σ(i)] and p̂ the unit p[i] (norms clamped at eps; below it p is
// only scaled, and the p̂ term drops). z gets no gradient: it is the
// stop-gradient target.
func negCosineBackward[T Float](dp, p, z []T, cos, pn, zn []float64, rows, cols int, g float64) {
	s := -g / float64(rows)
	parallelFor(rows, grainFor(3*cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			pr, zr, d := p[i*cols:(i+1)*cols], z[pairRow(i, rows)*cols:(pairRow(i, rows)+1)*cols], dp[i*cols:(i+1)*cols]
			np, nz := max(pn[i], cosineEps), max(zn[i], cosineEps)
			c := 0.0
			if pn[i] >= cosineEps {
				c = cos[i] / pn[i]
			}
			for j, v := range pr {
				d[j] = T(s * (float64(zr[j])/nz - c*float64(v)) / np)
			}
		}
	})
}
