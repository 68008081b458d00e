package ops

// patchify copies images[n,c,h,w] into patches[n*P, c*ps*ps], P = (h/ps)·(w/ps)
// with the patch grid in row-major order, each row ordered (channel, ky, kx)
// as a flattened Conv2d weight (D, c, ps, ps): the patch embedding is then a
// Linear with that weight reshaped to (D, c*ps*ps), exactly timm's
// PatchEmbed (conv, flatten(2), transpose(1, 2)).
func patchify[T Float](patches, images []T, n, c, h, w, ps int) {
	gh, gw := h/ps, w/ps
	cols := c * ps * ps
	parallelFor(n, grainFor(c*h*w), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for gy := 0; gy < gh; gy++ {
				for gx := 0; gx < gw; gx++ {
					row := patches[((i*gh+gy)*gw+gx)*cols:]
					for ch := 0; ch < c; ch++ {
						for ky := 0; ky < ps; ky++ {
							src := images[((i*c+ch)*h+gy*ps+ky)*w+gx*ps:]
							copy(row[(ch*ps+ky)*ps:(ch*ps+ky+1)*ps], src[:ps])
						}
					}
				}
			}
		}
	})
}

// tokensForward builds the token sequence x[n*(p+1), d] of n images from
// patch embeddings patches[n*p, d]: per image, row 0 is cls[d] + pos[0] and
// row 1+j is patches[j] + pos[1+j], pos holding p+1 rows.
func tokensForward[T Float](x, patches, cls, pos []T, n, p, d int) {
	t := p + 1
	parallelFor(n, grainFor(t*d), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for k := 0; k < t; k++ {
				src := cls[:d]
				if k > 0 {
					src = patches[(i*p+k-1)*d : (i*p+k)*d]
				}
				xr, pr := x[(i*t+k)*d:(i*t+k+1)*d], pos[k*d:(k+1)*d]
				for j, v := range src {
					xr[j] = v + pr[j]
				}
			}
		}
	})
}

// tokensBackwardPatches sets dpatches[n*p, d] to the patch rows of dx[n*(p+1), d].
func tokensBackwardPatches[T Float](dpatches, dx []T, n, p, d int) {
	t := p + 1
	parallelFor(n, grainFor(p*d), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			copy(dpatches[i*p*d:(i+1)*p*d], dx[(i*t+1)*d:(i+1)*t*d])
		}
	})
}

// tokensBackwardPos sets dpos[p+1, d] = Σ_images dx[image rows]: the sum
// over the batch of each token position's gradient.
func tokensBackwardPos[T Float](dpos, dx []T, n, p, d int) {
	t := p + 1
	parallelFor(t, grainFor(n*d), func(lo, hi int) {
		clear(dpos[lo*d : hi*d])
		for i := 0; i < n; i++ {
			src := dx[(i*t+lo)*d : (i*t+hi)*d]
			dst := dpos[lo*d : hi*d]
			for j, v := range src {
				dst[j] += v
			}
		}
	})
}

// tokensBackwardCLS sets dcls[d] = Σ_images dx[image's row 0].
func tokensBackwardCLS[T Float](dcls, dx []T, n, p, d int) {
	t := p + 1
	clear(dcls[:d])
	for i := 0; i < n; i++ {
		for j, v := range dx[i*t*d : (i*t+1)*d] {
			dcls[j] += v
		}
	}
}

// selectCLSForward sets y[n, d] to row 0 of each of the n sequences of t
// rows in x[n*t, d].
func selectCLSForward[T Float](y, x []T, n, t, d int) {
	for i := 0; i < n; i++ {
		copy(y[i*d:(i+1)*d], x[i*t*d:(i*t+1)*d])
	}
}

// selectCLSBackward scatters dy[n, d] into row 0 of each sequence of dx[n*t, d]
// and zeroes the other rows.
func selectCLSBackward[T Float](dx, dy []T, n, t, d int) {
	parallelFor(n, grainFor(t*d), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			copy(dx[i*t*d:(i*t+1)*d], dy[i*d:(i+1)*d])
			clear(dx[(i*t+1)*d : (i+1)*t*d])
		}
	})
}
