//go:build !(openblas && cgo)

package ops

// splitGemm is off: gonum's gemm spreads large products over goroutines
// itself.
const splitGemm = false

// setBLASThreads does nothing: gonum's BLAS has no thread setting.
func setBLASThreads(int) {}

// BLASName reports the BLAS the kernels call: "openblas" or "gonum".
func BLASName() string { return "gonum" }

// BLASCore is empty: gonum has one set of kernels, in Go.
func BLASCore() string { return "" }
