package gpu

import (
	"fmt"
	"unsafe"

	"github.com/sslens/sslens/backend/gpu/cuda"
)

// Ptr is a device address; p.At(i) is the i'th float32 from p.
type Ptr = cuda.DevPtr

// Device is what the executor runs on: float32 memory, the kernels of
// kernels.cu by name, and row-major GEMMs. The CUDA implementation is
// cudaDevice; the tests run the same executor on gputest.HostDevice, which
// executes kernels.cu compiled as C++.
type Device interface {
	Alloc(n int) (Ptr, error) // n float32 values
	Free(p Ptr) error
	Upload(dst Ptr, src []float32) error
	Download(dst []float32, src Ptr) error
	// Launch runs kernel on grid×block threads (one-dimensional) with
	// shared bytes of dynamic shared memory; args points at its argument
	// struct.
	Launch(kernel string, grid, block, shared int, args unsafe.Pointer) error
	// Gemm computes the row-major C[m,n] = alpha·op(A)·op(B) + beta·C.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a Ptr, lda int, b Ptr, ldb int, beta float32, c Ptr, ldc int) error
	// Sync waits for the queued work and reports its first error.
	Sync() error
	// GridStride is the most blocks an elementwise (grid-stride) launch
	// uses: enough to fill the device.
	GridStride() int
	// MemInfo returns the device's free and total memory in bytes.
	MemInfo() (free, total uint64, err error)
	// MaxShared is the dynamic shared memory a block may use, in bytes.
	MaxShared() int
	// String names the device: "cuda:0 (NVIDIA H100 80GB HBM3)".
	String() string
	Close() error
}

// buffers allocates named device arrays and frees them together.
type buffers struct {
	dev  Device
	ptrs []Ptr
}

func (b *buffers) alloc(what string, n int) (Ptr, error) {
	p, err := b.dev.Alloc(n)
	if err != nil {
		return 0, fmt.Errorf("gpu: %s (%d floats): %w", what, n, err)
	}
	b.ptrs = append(b.ptrs, p)
	return p, nil
}

func (b *buffers) free() error {
	var first error
	for _, p := range b.ptrs {
		if err := b.dev.Free(p); err != nil && first == nil {
			first = err
		}
	}
	b.ptrs = nil
	return first
}
