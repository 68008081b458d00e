package gpu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/gpu/cuda"
)

// cudaDevice is a GPU through the driver API, with kernels.cu compiled by
// NVRTC and GEMMs by cuBLAS; one goroutine at a time may use it.
type cudaDevice struct {
	ctx   *cuda.Context
	blas  *cuda.BLAS
	mod   *cuda.Module
	funcs map[string]cuda.Function
	name  string
}

// openCUDA opens GPU index: the driver, a context, the kernels (compiled
// for the device's architecture, or read from the cache a previous
// compile left) and a cuBLAS handle. tf32 lets cuBLAS use TF32.
func openCUDA(index int, tf32 bool) (d *cudaDevice, err error) {
	dirs := cuda.SearchDirs()
	drv, err := cuda.LoadDriver(dirs)
	if err != nil {
		return nil, err
	}
	ctx, err := drv.OpenContext(index)
	if err != nil {
		return nil, err
	}
	d = &cudaDevice{ctx: ctx, funcs: make(map[string]cuda.Function),
		name: fmt.Sprintf("cuda:%d (%s, %s)", index, ctx.Info.Name, ctx.Info.Arch())}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	image, err := kernelImage(drv, ctx.Info, dirs)
	if err != nil {
		return nil, err
	}
	if d.mod, err = ctx.LoadModule(image); err != nil {
		return nil, err
	}
	for _, name := range KernelNames {
		if d.funcs[name], err = d.mod.Function(name); err != nil {
			return nil, err
		}
	}
	if err = ctx.Do(func() (err error) { d.blas, err = cuda.LoadBLAS(dirs, tf32); return err }); err != nil {
		return nil, err
	}
	return d, nil
}

// kernelImage returns Source compiled for the device, from the cache
// (the user cache folder's sslens/cuda, keyed by the source, architecture
// and driver version) or by NVRTC, which the cache then keeps.
func kernelImage(drv *cuda.Driver, info cuda.DeviceInfo, dirs []string) ([]byte, error) {
	version, err := drv.Version()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", Source, info.Arch(), version)))
	var cached string
	if dir, err := os.UserCacheDir(); err == nil {
		cached = filepath.Join(dir, "sslens", "cuda", hex.EncodeToString(sum[:12])+".cubin")
		if b, err := os.ReadFile(cached); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	nvrtc, err := cuda.LoadNVRTC(dirs)
	if err != nil {
		return nil, err
	}
	image, err := nvrtc.Compile("kernels.cu", Source, info.Arch())
	if err != nil {
		return nil, err
	}
	if cached != "" && os.MkdirAll(filepath.Dir(cached), 0o755) == nil {
		_ = atomicfile.WriteBytes(cached, image) // a cache that cannot be written is only slower
	}
	return image, nil
}

func (d *cudaDevice) Alloc(n int) (Ptr, error) {
	p, err := d.ctx.Alloc(n)
	return Ptr(p), err
}
func (d *cudaDevice) Free(p Ptr) error                    { return d.ctx.Free(cuda.DevPtr(p)) }
func (d *cudaDevice) Upload(dst Ptr, src []float32) error { return d.ctx.Upload(cuda.DevPtr(dst), src) }
func (d *cudaDevice) Download(dst []float32, src Ptr) error {
	return d.ctx.Download(dst, cuda.DevPtr(src))
}
func (d *cudaDevice) Sync() error    { return d.ctx.Synchronize() }
func (d *cudaDevice) String() string { return d.name }

func (d *cudaDevice) MemInfo() (free, total uint64, err error) { return d.ctx.MemInfo() }

// MaxShared is the 48 KiB a block may use without opting in to more.
func (d *cudaDevice) MaxShared() int { return 48 << 10 }

// GridStride is 8 blocks of 256 threads per multiprocessor, at most 4096
// (what MemoryPlan allows the optimiser's partial sums).
func (d *cudaDevice) GridStride() int { return min(4096, 8*d.ctx.Info.Multiprocessors) }

func (d *cudaDevice) Launch(kernel string, grid, block, shared int, args unsafe.Pointer) error {
	f, ok := d.funcs[kernel]
	if !ok {
		return fmt.Errorf("gpu: no kernel %s", kernel)
	}
	return d.ctx.Launch(f, [3]uint32{uint32(grid), 1, 1}, [3]uint32{uint32(block), 1, 1}, shared, args)
}

func (d *cudaDevice) Gemm(transA, transB bool, m, n, k int, alpha float32, a Ptr, lda int, b Ptr, ldb int, beta float32, c Ptr, ldc int) error {
	return d.ctx.Do(func() error {
		return d.blas.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

// Close releases cuBLAS, the kernels and the context.
func (d *cudaDevice) Close() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if d.blas != nil {
		keep(d.ctx.Do(d.blas.Close))
	}
	if d.mod != nil {
		keep(d.mod.Unload())
	}
	keep(d.ctx.Close())
	return first
}
