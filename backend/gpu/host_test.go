package gpu

import (
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
)

// hostDevice is the Device of the executor's tests: kernels.cu compiled as
// C++ with host.h (g++ -fopenmp) and run block by block, GEMMs by gonum.
// Allocations are Go slices poisoned with NaN, so a kernel reading what
// nothing wrote shows in the results.
type hostDevice struct {
	launch  func(kernel uintptr, gx, gy, gz, bx, by, bz, shared uint32, args unsafe.Pointer)
	kernels map[string]uintptr
	mem     map[Ptr][]float32
}

var (
	hostLibOnce sync.Once
	hostLib     uintptr
	hostLibErr  error
)

// hostLibrary compiles kernels.cu for the host once per test binary.
func hostLibrary() (uintptr, error) {
	hostLibOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sslens-gpu-host")
		if err != nil {
			hostLibErr = err
			return
		}
		so := filepath.Join(dir, "kernels_host.so")
		cmd := exec.Command("g++", "-O1", "-fopenmp", "-shared", "-fPIC", "-Wall", "-Wno-unknown-pragmas",
			"-include", "host.h", "-x", "c++", "kernels.cu", "-o", so)
		if out, err := cmd.CombinedOutput(); err != nil {
			hostLibErr = fmt.Errorf("compiling kernels.cu for the host (g++ with OpenMP; apt-get install g++): %v\n%s", err, out)
			return
		}
		hostLib, hostLibErr = purego.Dlopen(so, purego.RTLD_NOW|purego.RTLD_LOCAL)
	})
	return hostLib, hostLibErr
}

func newHostDevice(t testing.TB) *hostDevice {
	t.Helper()
	lib, err := hostLibrary()
	if err != nil {
		t.Fatal(err)
	}
	d := &hostDevice{kernels: make(map[string]uintptr), mem: make(map[Ptr][]float32)}
	purego.RegisterLibFunc(&d.launch, lib, "emu_launch")
	for _, name := range KernelNames {
		sym, err := purego.Dlsym(lib, name)
		if err != nil {
			t.Fatalf("kernel %s: %v", name, err)
		}
		d.kernels[name] = sym
	}
	return d
}

func (d *hostDevice) Alloc(n int) (Ptr, error) {
	s := make([]float32, max(n, 1))
	for i := range s {
		s[i] = float32(math.NaN())
	}
	p := Ptr(uintptr(unsafe.Pointer(&s[0])))
	d.mem[p] = s
	return p, nil
}

func (d *hostDevice) Free(p Ptr) error {
	if _, ok := d.mem[p]; !ok {
		return fmt.Errorf("host device: free of %#x, not an allocation", p)
	}
	delete(d.mem, p)
	return nil
}

// slice returns n floats from p, which must lie inside one allocation.
func (d *hostDevice) slice(p Ptr, n int) ([]float32, error) {
	for base, s := range d.mem {
		if p >= base && p+Ptr(4*n) <= base+Ptr(4*len(s)) {
			return s[(p-base)/4:][:n], nil
		}
	}
	return nil, fmt.Errorf("host device: %d floats at %#x are outside every allocation", n, p)
}

func (d *hostDevice) Upload(dst Ptr, src []float32) error {
	s, err := d.slice(dst, len(src))
	if err == nil {
		copy(s, src)
	}
	return err
}

func (d *hostDevice) Download(dst []float32, src Ptr) error {
	s, err := d.slice(src, len(dst))
	if err == nil {
		copy(dst, s)
	}
	return err
}

func (d *hostDevice) Launch(kernel string, grid, block, shared int, args unsafe.Pointer) error {
	k, ok := d.kernels[kernel]
	if !ok {
		return fmt.Errorf("host device: no kernel %s", kernel)
	}
	d.launch(k, uint32(grid), 1, 1, uint32(block), 1, 1, uint32(shared), args)
	return nil
}

func (d *hostDevice) Gemm(transA, transB bool, m, n, k int, alpha float32, a Ptr, lda int, b Ptr, ldb int, beta float32, c Ptr, ldc int) error {
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

func (d *hostDevice) Sync() error    { return nil }
func (d *hostDevice) MaxShared() int { return 48 << 10 }

// GridStride is one block: a team of 256 threads looping over the elements
// costs one barrier per launch instead of one per block.
func (d *hostDevice) GridStride() int { return 1 }
func (d *hostDevice) String() string  { return "host emulation" }
func (d *hostDevice) Close() error    { d.mem = nil; return nil }
