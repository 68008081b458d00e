package fastmath

import "golang.org/x/sys/cpu"

// vector8 says whether the AVX2 and FMA kernels of fastmath_amd64.s can
// run here.
var vector8 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// erf8s is Erf on 8 floats at a time (AVX2, FMA) for the first
// len(src) rounded down to a multiple of 8; it returns how many it did.
//
//go:noescape
func erf8s(dst, src []float32) int

// exp8s is Exp on 8 floats at a time (AVX2, FMA) for the first
// len(src) rounded down to a multiple of 8; it returns how many it did.
//
//go:noescape
func exp8s(dst, src []float32) int

// gelu8s is GELU on 8 floats at a time (AVX2, FMA) for the first len(x)
// rounded down to a multiple of 8; it returns how many it did.
//
//go:noescape
func gelu8s(y, cdf, x []float32) int

// geluGrad8s is GELUGrad on 8 floats at a time (AVX2, FMA) for the first
// len(x) rounded down to a multiple of 8; it returns how many it did.
//
//go:noescape
func geluGrad8s(dx, dy, x, cdf []float32) int
