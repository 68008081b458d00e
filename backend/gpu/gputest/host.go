// Package gputest runs backend/gpu's executor without a GPU: HostDevice
// executes kernels.cu compiled as C++ with host.h (g++), one block at a
// time with a coroutine per CUDA thread, and GEMMs with gonum. It is for
// tests, which need g++ on the machine.
package gputest

import (
	_ "embed"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/sslens/sslens/backend/gpu/cuda"
)

//go:embed host.h
var hostHeader string

// Ptr is a device address, as backend/gpu's.
type Ptr = cuda.DevPtr

// HostDevice is backend/gpu's Device on the host. Allocations are Go
// slices poisoned with NaN, so a kernel reading what nothing wrote shows in
// the results. Not safe for concurrent use.
type HostDevice struct {
	// Memory is the device memory it claims to have, in bytes (MemInfo);
	// 0 means 1 TiB.
	Memory uint64

	launch  func(kernel uintptr, gx, gy, gz, bx, by, bz, shared uint32, args unsafe.Pointer) int32
	kernels map[string]uintptr
	mem     map[Ptr][]float32
}

var (
	libMu sync.Mutex
	libs  = make(map[string]uintptr) // compiled sources by their text
)

// Library compiles source (kernels.cu's text) for the host, once per
// source and process, and returns the loaded library's handle.
func Library(source string) (uintptr, error) {
	libMu.Lock()
	defer libMu.Unlock()
	if h, ok := libs[source]; ok {
		return h, nil
	}
	dir, err := os.MkdirTemp("", "sslens-gpu-host")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir) // the loaded library stays mapped
	src, header, so := filepath.Join(dir, "kernels.cu"), filepath.Join(dir, "host.h"), filepath.Join(dir, "kernels_host.so")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		return 0, err
	}
	if err := os.WriteFile(header, []byte(hostHeader), 0o644); err != nil {
		return 0, err
	}
	cmd := exec.Command("g++", "-O1", "-shared", "-fPIC", "-Wall",
		"-include", header, "-x", "c++", src, "-o", so)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("gputest: compiling kernels.cu for the host (g++; apt-get install g++): %v\n%s", err, out)
	}
	h, err := purego.Dlopen(so, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return 0, fmt.Errorf("gputest: %w", err)
	}
	libs[source] = h
	return h, nil
}

// NewHostDevice compiles source and binds its kernels, failing t when it
// cannot.
func NewHostDevice(t testing.TB, source string, kernels []string) *HostDevice {
	t.Helper()
	lib, err := Library(source)
	if err != nil {
		t.Fatal(err)
	}
	d := &HostDevice{kernels: make(map[string]uintptr), mem: make(map[Ptr][]float32)}
	purego.RegisterLibFunc(&d.launch, lib, "emu_launch")
	for _, name := range kernels {
		sym, err := purego.Dlsym(lib, name)
		if err != nil {
			t.Fatalf("kernel %s: %v", name, err)
		}
		d.kernels[name] = sym
	}
	return d
}

func (d *HostDevice) Alloc(n int) (Ptr, error) {
	s := make([]float32, max(n, 1))
	for i := range s {
		s[i] = float32(math.NaN())
	}
	p := Ptr(uintptr(unsafe.Pointer(&s[0])))
	d.mem[p] = s
	return p, nil
}

func (d *HostDevice) Free(p Ptr) error {
	if _, ok := d.mem[p]; !ok {
		return fmt.Errorf("host device: free of %#x, not an allocation", p)
	}
	delete(d.mem, p)
	return nil
}

// slice returns n floats from p, which must lie inside one allocation.
func (d *HostDevice) slice(p Ptr, n int) ([]float32, error) {
	for base, s := range d.mem {
		if p >= base && p+Ptr(4*n) <= base+Ptr(4*len(s)) {
			return s[(p-base)/4:][:n], nil
		}
	}
	return nil, fmt.Errorf("host device: %d floats at %#x are outside every allocation", n, p)
}

func (d *HostDevice) Upload(dst Ptr, src []float32) error {
	s, err := d.slice(dst, len(src))
	if err == nil {
		copy(s, src)
	}
	return err
}

func (d *HostDevice) Download(dst []float32, src Ptr) error {
	s, err := d.slice(src, len(dst))
	if err == nil {
		copy(dst, s)
	}
	return err
}

func (d *HostDevice) Launch(kernel string, grid, block, shared int, args unsafe.Pointer) error {
	k, ok := d.kernels[kernel]
	if !ok {
		return fmt.Errorf("host device: no kernel %s", kernel)
	}
	if d.launch(k, uint32(grid), 1, 1, uint32(block), 1, 1, uint32(shared), args) != 0 {
		return fmt.Errorf("gputest: %s: %d threads per block, the host runs at most 1024", kernel, block)
	}
	return nil
}

func (d *HostDevice) Gemm(transA, transB bool, m, n, k int, alpha float32, a Ptr, lda int, b Ptr, ldb int, beta float32, c Ptr, ldc int) error {
	general := func(p Ptr, rows, cols, stride int) (blas32.General, error) {
		s, err := d.slice(p, (rows-1)*stride+cols)
		return blas32.General{Rows: rows, Cols: cols, Stride: stride, Data: s}, err
	}
	op := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	A, err := general(a, ar, ac, lda)
	if err != nil {
		return err
	}
	B, err := general(b, br, bc, ldb)
	if err != nil {
		return err
	}
	C, err := general(c, m, n, ldc)
	if err != nil {
		return err
	}
	blas32.Gemm(op(transA), op(transB), alpha, A, B, beta, C)
	return nil
}

func (d *HostDevice) Sync() error { return nil }

// Allocated is the memory the live allocations hold, in bytes.
func (d *HostDevice) Allocated() uint64 {
	var n uint64
	for _, s := range d.mem {
		n += 4 * uint64(len(s))
	}
	return n
}

// MemInfo reports Memory less what is allocated as free.
func (d *HostDevice) MemInfo() (free, total uint64, err error) {
	total = d.Memory
	if total == 0 {
		total = 1 << 40
	}
	return total - min(total, d.Allocated()), total, nil
}
func (d *HostDevice) MaxShared() int { return 48 << 10 }

// GridStride is 3 blocks: few enough that elementwise kernels loop
// grid-stride, several so that their block indexing is exercised too.
func (d *HostDevice) GridStride() int { return 3 }
func (d *HostDevice) String() string  { return "host emulation" }
func (d *HostDevice) Close() error    { d.mem = nil; return nil }
