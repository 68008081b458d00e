package ops

import "math"

// BatchNorm1d over the rows of x[R, D], as PyTorch's nn.BatchNorm1d in
// training: each column is normalised with its mean and biased variance
// over the rows, x̂ = (x - mean)/√(var + eps), then y = gamma·x̂ + beta.
// Rows may form G groups of R/G consecutive rows normalised separately,
// which is what G separate calls of a PyTorch module on the G blocks do.
// The kernels keep each (group, column) mean and 1/√(var+eps) for the
// backward.

// bnShape is the layout of one batch norm.
type bnShape struct {
	rows, cols, groups int
}

func (s bnShape) per() int { return s.rows / s.groups }

// batchNormStats sets mean and rstd [groups, cols] from x over each
// group's rows, and returns the biased variances in vari [groups, cols]
// for the running statistics. Sums run in float64.
func batchNormStats[T Float](mean, rstd []T, vari []float64, x []T, s bnShape, eps float64) {
	per := s.per()
	parallelFor(s.cols, grainFor(s.rows*2), func(lo, hi int) {
		sum := make([]float64, hi-lo)
		for g := 0; g < s.groups; g++ {
			clear(sum)
			for r := g * per; r < (g+1)*per; r++ {
				for j, v := range x[r*s.cols+lo : r*s.cols+hi] {
					sum[j] += float64(v)
				}
			}
			for j := range sum {
				sum[j] /= float64(per)
				mean[g*s.cols+lo+j] = T(sum[j])
			}
			sq := vari[g*s.cols+lo : g*s.cols+hi]
			clear(sq)
			for r := g * per; r < (g+1)*per; r++ {
				for j, v := range x[r*s.cols+lo : r*s.cols+hi] {
					d := float64(v) - sum[j]
					sq[j] += d * d
				}
			}
			for j := range sq {
				sq[j] /= float64(per)
				rstd[g*s.cols+lo+j] = T(1 / math.Sqrt(sq[j]+eps))
			}
		}
	})
}

// batchNormApply sets y = gamma·(x - mean[g])·rstd[g] + beta for the rows
// of each group g; gamma and beta may be nil (1 and 0). With one group of
// statistics for all rows (evaluation) pass groups 1.
func batchNormApply[T Float](y, x, mean, rstd, gamma, beta []T, s bnShape) {
	per := s.per()
	parallelFor(s.rows, grainFor(2*s.cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g := r / per
			m, rs := mean[g*s.cols:(g+1)*s.cols], rstd[g*s.cols:(g+1)*s.cols]
			yr, xr := y[r*s.cols:(r+1)*s.cols], x[r*s.cols:(r+1)*s.cols]
			for j, v := range xr {
				h := (v - m[j]) * rs[j]
				if gamma != nil {
					h *= gamma[j]
				}
				if beta != nil {
					h += beta[j]
				}
				yr[j] = h
			}
		}
	})
}

// batchNormBackwardX sets dx from dy for the training forward (batch
// statistics): per group and column, with n rows and h = dy·gamma,
// dx = rstd/n·(n·h - Σh - x̂·Σ(h·x̂)).
func batchNormBackwardX[T Float](dx, dy, x, mean, rstd, gamma []T, s bnShape) {
	per := s.per()
	parallelFor(s.cols, grainFor(s.rows*4), func(lo, hi int) {
		sumH, sumHX := make([]float64, hi-lo), make([]float64, hi-lo)
		for g := 0; g < s.groups; g++ {
			clear(sumH)
			clear(sumHX)
			m, rs := mean[g*s.cols+lo:g*s.cols+hi], rstd[g*s.cols+lo:g*s.cols+hi]
			var gm []T
			if gamma != nil {
				gm = gamma[lo:hi]
			}
			for r := g * per; r < (g+1)*per; r++ {
				xr, dr := x[r*s.cols+lo:r*s.cols+hi], dy[r*s.cols+lo:r*s.cols+hi]
				for j, v := range dr {
					h := float64(v)
					if gm != nil {
						h *= float64(gm[j])
					}
					sumH[j] += h
					sumHX[j] += h * float64((xr[j]-m[j])*rs[j])
				}
			}
			n := float64(per)
			for r := g * per; r < (g+1)*per; r++ {
				xr, dr, out := x[r*s.cols+lo:r*s.cols+hi], dy[r*s.cols+lo:r*s.cols+hi], dx[r*s.cols+lo:r*s.cols+hi]
				for j, v := range dr {
					h := float64(v)
					if gm != nil {
						h *= float64(gm[j])
					}
					xh := float64((xr[j] - m[j]) * rs[j])
					out[j] = T(float64(rs[j]) / n * (n*h - sumH[j] - xh*sumHX[j]))
				}
			}
		}
	})
}

// batchNormBackwardXFixed sets dx = dy·gamma·rstd: the backward of the
// evaluation forward, whose statistics are constants.
func batchNormBackwardXFixed[T Float](dx, dy, rstd, gamma []T, rows, cols int) {
	parallelFor(rows, grainFor(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for j, v := range dy[r*cols : (r+1)*cols] {
				d := v * rstd[j]
				if gamma != nil {
					d *= gamma[j]
				}
				dx[r*cols+j] = d
			}
		}
	})
}

// batchNormBackwardGamma sets dgamma[D] = Σ_rows dy·x̂, x̂ from the
// statistics of each row's group.
func batchNormBackwardGamma[T Float](dg, dy, x, mean, rstd []T, s bnShape) {
	per := s.per()
	parallelFor(s.cols, grainFor(s.rows), func(lo, hi int) {
		acc := make([]float64, hi-lo)
		for r := 0; r < s.rows; r++ {
			g := r / per
			m, rs := mean[g*s.cols+lo:g*s.cols+hi], rstd[g*s.cols+lo:g*s.cols+hi]
			for j, v := range dy[r*s.cols+lo : r*s.cols+hi] {
				acc[j] += float64(v * (x[r*s.cols+lo+j] - m[j]) * rs[j])
			}
		}
		for j, v := range acc {
			dg[lo+j] = T(v)
		}
	})
}

// updateRunning moves the running statistics towards each group's batch
// statistics in turn, as PyTorch does on every training forward:
// running = (1-momentum)·running + momentum·batch, the variance unbiased
// (times n/(n-1)).
func updateRunning[T Float](runMean, runVar []float32, mean []T, vari []float64, s bnShape, momentum float64) {
	n := float64(s.per())
	unbias := n / max(n-1, 1)
	for g := 0; g < s.groups; g++ {
		for j := range runMean {
			runMean[j] = float32((1-momentum)*float64(runMean[j]) + momentum*float64(mean[g*s.cols+j]))
			runVar[j] = float32((1-momentum)*float64(runVar[j]) + momentum*vari[g*s.cols+j]*unbias)
		}
	}
}
