//go:build !amd64

package fastmath

// vector8 is false: the vector kernels are amd64 assembly.
var vector8 = false

func erf8s(dst, src []float32) int { return 0 }
func exp8s(dst, src []float32) int { return 0 }
