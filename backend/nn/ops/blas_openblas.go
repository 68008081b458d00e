//go:build openblas && cgo

package ops

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
// char* openblas_get_corename(void);
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// splitGemm: gemm splits large products across cores itself and OpenBLAS
// runs single-threaded. OpenBLAS's own worker threads spin (sched_yield) for
// a while after every call, taking the cores from the Go kernels that run
// between products; measured on a ViT-S/8 block, splitting in Go with one
// OpenBLAS thread per call is 15-20% faster than OpenBLAS threading.
const splitGemm = true

// The BLAS choice is process-wide in gonum and Gorgonia; the build tag makes
// it, so installing it when the package loads keeps every caller consistent.
// Gorgonia's own products (gorgonia.Mul) then run on one core.
func init() {
	gorgonia.Use(netlib.Implementation{}) // also sets gorgonia.org/tensor's BLAS
	blas32.Use(netlib.Implementation{})
	blas64.Use(netlib.Implementation{})
	setBLASThreads(1)
}

// setBLASThreads sets the number of threads OpenBLAS uses per call.
func setBLASThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// BLASName reports the BLAS the kernels call: "openblas" or "gonum".
func BLASName() string { return "openblas" }

// BLASCore is the kernel set OpenBLAS chose for this CPU when it loaded,
// e.g. "SkylakeX" or "Haswell" (OPENBLAS_CORETYPE overrides its choice).
func BLASCore() string { return C.GoString(C.openblas_get_corename()) }
