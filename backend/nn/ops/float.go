package ops

import (
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// Float is the element type of every kernel. Training runs in float32; the
// float64 instantiation exists for gradient checks.
type Float interface{ float32 | float64 }

// is32 reports whether T is float32.
func is32[T Float]() bool { return unsafe.Sizeof(T(0)) == 4 }

// cast reinterprets s as a []To where To and From are known to be the same
// type (checked with is32): Float admits exactly float32 and float64, so the
// cast is exact, and it avoids the interface conversion a type switch would
// need on every call.
func cast[To, From Float](s []From) []To {
	return unsafe.Slice((*To)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices with
// op(A) m×k, op(B) k×n and C m×n, dispatching to the installed blas32 or
// blas64 implementation.
//
// Under OpenBLAS (splitGemm) products of 2²⁰ multiply-adds or more are split
// by rows of C across cores, each part a single-threaded BLAS call; see
// blas_openblas.go.
func gemm[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if splitGemm && m*n*k >= 1<<20 {
		parallelFor(m, 32, func(lo, hi int) {
			off := lo * lda
			if tA {
				off = lo
			}
			gemm1(tA, tB, hi-lo, n, k, alpha, a[off:], lda, b, ldb, beta, c[lo*ldc:], ldc)
		})
		return
	}
	gemm1(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemm1 is one BLAS call.
func gemm1[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if is32[T]() {
		blas32.Implementation().Sgemm(trans(tA), trans(tB), m, n, k, float32(alpha), cast[float32](a), lda, cast[float32](b), ldb, float32(beta), cast[float32](c), ldc)
		return
	}
	blas64.Implementation().Dgemm(trans(tA), trans(tB), m, n, k, float64(alpha), cast[float64](a), lda, cast[float64](b), ldb, float64(beta), cast[float64](c), ldc)
}

// colSum sets dst[j] = Σ_r src[r*cols+j] (dst has cols entries), splitting
// the columns across cores so no partial sums are needed.
func colSum[T Float](dst, src []T, rows, cols int) {
	parallelFor(cols, grainFor(rows), func(lo, hi int) {
		d := dst[lo:hi]
		clear(d)
		for r := 0; r < rows; r++ {
			s := src[r*cols+lo : r*cols+hi]
			for j, v := range s {
				d[j] += v
			}
		}
	})
}
