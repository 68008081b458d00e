package cuda

import "fmt"

// BLAS is a cuBLAS handle bound from libcublas, for the context current on
// the goroutine that made it.
type BLAS struct {
	lib *handle
	h   uintptr

	cublasCreate      func(h *uintptr) result
	cublasDestroy     func(h uintptr) result
	cublasSetMathMode func(h uintptr, mode int32) result
	cublasSgemm       func(h uintptr, ta, tb, m, n, k int32, alpha *float32, a DevPtr, lda int32, b DevPtr, ldb int32, beta *float32, c DevPtr, ldc int32) result
}

// cuBLAS constants.
const (
	opN         = 0 // CUBLAS_OP_N
	opT         = 1 // CUBLAS_OP_T
	mathDefault = 0 // CUBLAS_DEFAULT_MATH: exact float32
	mathTF32    = 3 // CUBLAS_TF32_TENSOR_OP_MATH
)

// FindBLAS loads libcublas from dirs, without a context or handle, and
// returns the file it loaded.
func FindBLAS(dirs []string) (string, error) {
	h, err := open(libCUBLAS, dirs)
	if err != nil {
		return "", err
	}
	return h.path, nil
}

// LoadBLAS loads libcublas from dirs and creates a handle; tf32 lets
// float32 products use the tensor cores' TF32 (about 1e-3 relative).
func LoadBLAS(dirs []string, tf32 bool) (*BLAS, error) {
	h, err := open(libCUBLAS, dirs)
	if err != nil {
		return nil, err
	}
	b := &BLAS{lib: h}
	if err := h.bind(map[string]any{
		"cublasCreate_v2": &b.cublasCreate, "cublasDestroy_v2": &b.cublasDestroy,
		"cublasSetMathMode": &b.cublasSetMathMode, "cublasSgemm_v2": &b.cublasSgemm,
	}); err != nil {
		return nil, err
	}
	if err := check("cublasCreate", b.cublasCreate(&b.h)); err != nil {
		return nil, err
	}
	mode := int32(mathDefault)
	if tf32 {
		mode = mathTF32
	}
	if err := check("cublasSetMathMode", b.cublasSetMathMode(b.h, mode)); err != nil {
		b.cublasDestroy(b.h)
		return nil, err
	}
	return b, nil
}

func check(call string, r result) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("cuda: %s: cublasStatus %d", call, r)
}

// Gemm computes the row-major C[m,n] = alpha·op(A)·op(B) + beta·C, op
// transposing when its flag is set, with leading dimensions (row strides)
// lda, ldb, ldc. cuBLAS is column-major, so it computes Cᵀ = op(B)ᵀ·op(A)ᵀ.
func (b *BLAS) Gemm(transA, transB bool, m, n, k int, alpha float32, a DevPtr, lda int, bm DevPtr, ldb int, beta float32, c DevPtr, ldc int) error {
	op := func(t bool) int32 {
		if t {
			return opT
		}
		return opN
	}
	r := b.cublasSgemm(b.h, op(transB), op(transA), int32(n), int32(m), int32(k), &alpha, bm, int32(ldb), a, int32(lda), &beta, c, int32(ldc))
	return check(fmt.Sprintf("cublasSgemm(m=%d n=%d k=%d)", m, n, k), r)
}

// Close destroys the handle.
func (b *BLAS) Close() error { return check("cublasDestroy", b.cublasDestroy(b.h)) }
