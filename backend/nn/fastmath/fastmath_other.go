//go:build !amd64

package fastmath

// vector8 is false: the vector kernels are amd64 assembly.
var vector8 = false

func erf8s(dst, src []float32) int            { return 0 }
func exp8s(dst, src []float32) int            { return 0 }
func gelu8s(y, cdf, x []float32) int          { return 0 }
func geluGrad8s(dx, dy, x, cdf []float32) int { return 0 }
