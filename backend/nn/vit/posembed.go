package vit

import (
	"fmt"
	"math"
)

// bicubicA is the cubic convolution coefficient of PyTorch's bicubic mode.
const bicubicA = -0.75

// PosEmbedMatrix returns the linear map that resamples a position embedding
// learned on a srcGrid x srcGrid patch grid to a dstGrid x dstGrid grid: a
// row-major (1+dstGrid^2, 1+srcGrid^2) matrix M with out = M * pos, where
// pos is (1+srcGrid^2, D) with the class position in row 0 and the patches
// row-major after it. Row 0 of M passes the class position through. A graph
// multiplies by M in the forward pass and by its transpose in the backward.
//
// It matches DINO's interpolate_pos_encoding as PyTorch 1.13 runs it:
// F.interpolate(mode="bicubic", align_corners=False) with scale_factor
// (dstGrid+0.1)/srcGrid, the 0.1 being DINO's guard against floor() losing a
// row. The scale factor reaches the kernel, so output pixel i samples the
// source at (i+0.5)*srcGrid/(dstGrid+0.1)-0.5, not at timm's
// (i+0.5)*srcGrid/dstGrid-0.5. Taps use A = -0.75 and clamp to the border.
// Equal grids give the identity, as DINO returns pos_embed untouched then.
// Weights are computed in float64; PyTorch computes them in float32 for
// float32 tensors, which moves them by up to about 1e-6 (checked on 1.13).
// The 0.1 matters: resampling 4x4 to 2x2 by size instead changes weights
// by up to 0.24.
func PosEmbedMatrix(srcGrid, dstGrid int) ([]float64, error) {
	if srcGrid <= 0 || dstGrid <= 0 {
		return nil, fmt.Errorf("vit: position grids %dx%d -> %dx%d: sizes must be positive", srcGrid, srcGrid, dstGrid, dstGrid)
	}
	w := bicubicWeights(srcGrid, dstGrid)
	cols := 1 + srcGrid*srcGrid
	m := make([]float64, (1+dstGrid*dstGrid)*cols)
	m[0] = 1
	for y := 0; y < dstGrid; y++ {
		for x := 0; x < dstGrid; x++ {
			row := m[(1+y*dstGrid+x)*cols:]
			for sy, wy := range w[y] {
				for sx, wx := range w[x] {
					row[1+sy*srcGrid+sx] = wy * wx
				}
			}
		}
	}
	return m, nil
}

// bicubicWeights returns the (dst, src) weights of 1-D bicubic resampling
// with DINO's scale factor; the 2-D map is their outer product.
func bicubicWeights(src, dst int) [][]float64 {
	w := make([][]float64, dst)
	for i := range w {
		w[i] = make([]float64, src)
	}
	if src == dst {
		for i := range w {
			w[i][i] = 1
		}
		return w
	}
	ratio := 1 / ((float64(dst) + 0.1) / float64(src)) // PyTorch uses 1/scale_factor when one is given
	for i := range w {
		real := ratio*(float64(i)+0.5) - 0.5
		idx := min(int(math.Floor(real)), src-1)
		t := min(max(real-float64(idx), 0), 1)
		coeffs := [4]float64{cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)}
		for k, c := range coeffs {
			j := min(max(idx-1+k, 0), src-1)
			w[i][j] += c
		}
	}
	return w
}

// cubic1 is the Keys kernel for |x| <= 1, cubic2 for 1 < |x| < 2, written
// as PyTorch's cubic_convolution1 and cubic_convolution2.
func cubic1(x float64) float64 {
	return ((bicubicA+2)*x-(bicubicA+3))*x*x + 1
}

func cubic2(x float64) float64 {
	return ((bicubicA*x-5*bicubicA)*x+8*bicubicA)*x - 4*bicubicA
}

// InterpolatePosEmbed resamples pos, a (1+srcGrid^2, dim) position
// embedding, to (1+dstGrid^2, dim) with PosEmbedMatrix.
func InterpolatePosEmbed(pos []float32, dim, srcGrid, dstGrid int) ([]float32, error) {
	if dim <= 0 || len(pos) != (1+srcGrid*srcGrid)*dim {
		return nil, fmt.Errorf("vit: position embedding has %d values, want (1+%d*%d)*%d", len(pos), srcGrid, srcGrid, dim)
	}
	m, err := PosEmbedMatrix(srcGrid, dstGrid)
	if err != nil {
		return nil, err
	}
	rows, cols := 1+dstGrid*dstGrid, 1+srcGrid*srcGrid
	out := make([]float32, rows*dim)
	acc := make([]float64, dim)
	for r := 0; r < rows; r++ {
		clear(acc)
		for c, w := range m[r*cols : (r+1)*cols] {
			if w == 0 {
				continue
			}
			for k, v := range pos[c*dim : (c+1)*dim] {
				acc[k] += w * float64(v)
			}
		}
		for k, v := range acc {
			out[r*dim+k] = float32(v)
		}
	}
	return out, nil
}
