package cuda

import (
	"fmt"
	"runtime"
	"unsafe"
)

// result is a CUresult, NVRTC's nvrtcResult or cuBLAS's cublasStatus_t:
// 0 is success in all three.
type result int32

// DevPtr is a device address (CUdeviceptr).
type DevPtr uint64

// At returns the address of the i'th float32 from p.
func (p DevPtr) At(i int) DevPtr { return p + DevPtr(4*i) }

// Driver is the CUDA driver API bound from libcuda, initialised.
type Driver struct {
	lib *handle

	cuInit                    func(flags uint32) result
	cuDriverGetVersion        func(v *int32) result
	cuDeviceGetCount          func(n *int32) result
	cuDeviceGet               func(dev *int32, ordinal int32) result
	cuDeviceGetName           func(name *byte, n int32, dev int32) result
	cuDeviceTotalMem          func(bytes *uint64, dev int32) result
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) result
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) result
	cuDevicePrimaryCtxRelease func(dev int32) result
	cuCtxSetCurrent           func(ctx uintptr) result
	cuCtxSynchronize          func() result
	cuMemGetInfo              func(free, total *uint64) result
	cuMemAlloc                func(p *DevPtr, bytes uint64) result
	cuMemFree                 func(p DevPtr) result
	cuMemcpyHtoD              func(dst DevPtr, src unsafe.Pointer, bytes uint64) result
	cuMemcpyDtoH              func(dst unsafe.Pointer, src DevPtr, bytes uint64) result
	cuModuleLoadData          func(mod *uintptr, image unsafe.Pointer) result
	cuModuleUnload            func(mod uintptr) result
	cuModuleGetFunction       func(fn *uintptr, mod uintptr, name string) result
	cuLaunchKernel            func(fn uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params, extra unsafe.Pointer) result
	cuGetErrorName            func(r result, s **byte) result
}

// Device attributes (CUdevice_attribute) sslens reads.
const (
	attrMultiprocessors = 16
	attrComputeMajor    = 75
	attrComputeMinor    = 76
)

// LoadDriver loads libcuda from dirs (after the dynamic linker's search;
// SearchDirs gives the usual ones) and initialises it. On a machine
// without the NVIDIA driver it returns a *LoadError; with the driver but
// no usable GPU, the driver's own error.
func LoadDriver(dirs []string) (*Driver, error) {
	h, err := open(libCUDA, dirs)
	if err != nil {
		return nil, err
	}
	d := &Driver{lib: h}
	if err := h.bind(map[string]any{
		"cuInit": &d.cuInit, "cuDriverGetVersion": &d.cuDriverGetVersion,
		"cuDeviceGetCount": &d.cuDeviceGetCount, "cuDeviceGet": &d.cuDeviceGet,
		"cuDeviceGetName": &d.cuDeviceGetName, "cuDeviceTotalMem_v2": &d.cuDeviceTotalMem,
		"cuDeviceGetAttribute":         &d.cuDeviceGetAttribute,
		"cuDevicePrimaryCtxRetain":     &d.cuDevicePrimaryCtxRetain,
		"cuDevicePrimaryCtxRelease_v2": &d.cuDevicePrimaryCtxRelease,
		"cuCtxSetCurrent":              &d.cuCtxSetCurrent, "cuCtxSynchronize": &d.cuCtxSynchronize,
		"cuMemGetInfo_v2": &d.cuMemGetInfo, "cuMemAlloc_v2": &d.cuMemAlloc, "cuMemFree_v2": &d.cuMemFree,
		"cuMemcpyHtoD_v2": &d.cuMemcpyHtoD, "cuMemcpyDtoH_v2": &d.cuMemcpyDtoH,
		"cuModuleLoadData": &d.cuModuleLoadData, "cuModuleUnload": &d.cuModuleUnload,
		"cuModuleGetFunction": &d.cuModuleGetFunction, "cuLaunchKernel": &d.cuLaunchKernel,
		"cuGetErrorName": &d.cuGetErrorName,
	}); err != nil {
		return nil, err
	}
	if err := d.check("cuInit", d.cuInit(0)); err != nil {
		return nil, err
	}
	return d, nil
}

// Path is the driver library's file as loaded.
func (d *Driver) Path() string { return d.lib.path }

// check turns a CUresult into an error naming the call and the result.
func (d *Driver) check(call string, r result) error {
	if r == 0 {
		return nil
	}
	var s *byte
	name := fmt.Sprintf("CUresult %d", r)
	if d.cuGetErrorName(r, &s) == 0 && s != nil {
		name = goString(s)
	}
	return fmt.Errorf("cuda: %s: %s", call, name)
}

// Version is the driver's CUDA version, 1000*major + 10*minor (13000 for
// CUDA 13.0).
func (d *Driver) Version() (int, error) {
	var v int32
	return int(v), d.check("cuDriverGetVersion", d.cuDriverGetVersion(&v))
}

// DeviceInfo describes one GPU.
type DeviceInfo struct {
	Index           int
	Name            string
	Memory          uint64 // bytes
	Major, Minor    int    // compute capability: 9.0 is Hopper
	Multiprocessors int
}

// Arch is the NVRTC architecture option for the device: sm_90 for 9.0.
func (i DeviceInfo) Arch() string { return fmt.Sprintf("sm_%d%d", i.Major, i.Minor) }

// Devices lists the GPUs the driver sees.
func (d *Driver) Devices() ([]DeviceInfo, error) {
	var n int32
	if err := d.check("cuDeviceGetCount", d.cuDeviceGetCount(&n)); err != nil {
		return nil, err
	}
	out := make([]DeviceInfo, n)
	for i := range out {
		var dev int32
		if err := d.check("cuDeviceGet", d.cuDeviceGet(&dev, int32(i))); err != nil {
			return nil, err
		}
		name := make([]byte, 256)
		info := DeviceInfo{Index: i}
		var major, minor, sms int32
		for _, c := range []error{
			d.check("cuDeviceGetName", d.cuDeviceGetName(&name[0], int32(len(name)), dev)),
			d.check("cuDeviceTotalMem", d.cuDeviceTotalMem(&info.Memory, dev)),
			d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&major, attrComputeMajor, dev)),
			d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&minor, attrComputeMinor, dev)),
			d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&sms, attrMultiprocessors, dev)),
		} {
			if c != nil {
				return nil, c
			}
		}
		info.Name = goString(&name[0])
		info.Major, info.Minor, info.Multiprocessors = int(major), int(minor), int(sms)
		out[i] = info
	}
	return out, nil
}

// Context is the primary context of one GPU. Each call makes it current
// on the calling goroutine's OS thread for its duration, so any goroutine
// may use it, one at a time.
type Context struct {
	d    *Driver
	dev  int32
	ctx  uintptr
	Info DeviceInfo
}

// OpenContext retains GPU index's primary context.
func (d *Driver) OpenContext(index int) (*Context, error) {
	devs, err := d.Devices()
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(devs) {
		return nil, fmt.Errorf("cuda: no GPU cuda:%d: the driver sees %d", index, len(devs))
	}
	c := &Context{d: d, Info: devs[index]}
	if err := d.check("cuDeviceGet", d.cuDeviceGet(&c.dev, int32(index))); err != nil {
		return nil, err
	}
	if err := d.check("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain(&c.ctx, c.dev)); err != nil {
		return nil, err
	}
	return c, nil
}

// Do runs f with the context current on the calling goroutine's thread,
// which stays locked to it meanwhile: for calls outside this package that
// need a current context (cuBLAS).
func (c *Context) Do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := c.d.check("cuCtxSetCurrent", c.d.cuCtxSetCurrent(c.ctx)); err != nil {
		return err
	}
	return f()
}

// call runs one driver call with the context current.
func (c *Context) call(name string, f func() result) error {
	return c.Do(func() error { return c.d.check(name, f()) })
}

// Close releases the context.
func (c *Context) Close() error {
	return c.d.check("cuDevicePrimaryCtxRelease", c.d.cuDevicePrimaryCtxRelease(c.dev))
}

// Synchronize waits for all work queued on the context.
func (c *Context) Synchronize() error { return c.call("cuCtxSynchronize", c.d.cuCtxSynchronize) }

// MemInfo returns free and total device memory in bytes.
func (c *Context) MemInfo() (free, total uint64, err error) {
	err = c.call("cuMemGetInfo", func() result { return c.d.cuMemGetInfo(&free, &total) })
	return free, total, err
}

// Alloc allocates n float32 values of device memory.
func (c *Context) Alloc(n int) (DevPtr, error) {
	var p DevPtr
	err := c.call(fmt.Sprintf("cuMemAlloc(%d bytes)", 4*n), func() result { return c.d.cuMemAlloc(&p, uint64(4*max(n, 1))) })
	return p, err
}

// Free releases memory from Alloc.
func (c *Context) Free(p DevPtr) error {
	return c.call("cuMemFree", func() result { return c.d.cuMemFree(p) })
}

// Upload copies src to device memory at dst.
func (c *Context) Upload(dst DevPtr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return c.call("cuMemcpyHtoD", func() result {
		return c.d.cuMemcpyHtoD(dst, unsafe.Pointer(&src[0]), uint64(4*len(src)))
	})
}

// Download copies len(dst) values from device memory at src.
func (c *Context) Download(dst []float32, src DevPtr) error {
	if len(dst) == 0 {
		return nil
	}
	return c.call("cuMemcpyDtoH", func() result {
		return c.d.cuMemcpyDtoH(unsafe.Pointer(&dst[0]), src, uint64(4*len(dst)))
	})
}

// Module is loaded device code.
type Module struct {
	c *Context
	h uintptr
}

// LoadModule loads a CUBIN or PTX image (NVRTC's output).
func (c *Context) LoadModule(image []byte) (*Module, error) {
	if len(image) == 0 {
		return nil, fmt.Errorf("cuda: empty module image")
	}
	var m uintptr
	if err := c.call("cuModuleLoadData", func() result { return c.d.cuModuleLoadData(&m, unsafe.Pointer(&image[0])) }); err != nil {
		return nil, err
	}
	return &Module{c: c, h: m}, nil
}

// Function is a kernel of a loaded module.
type Function struct {
	Name string
	h    uintptr
}

// Function looks up a kernel by its (extern "C") name.
func (m *Module) Function(name string) (Function, error) {
	var f uintptr
	if err := m.c.call("cuModuleGetFunction("+name+")", func() result { return m.c.d.cuModuleGetFunction(&f, m.h, name) }); err != nil {
		return Function{}, err
	}
	return Function{Name: name, h: f}, nil
}

// Unload releases the module.
func (m *Module) Unload() error {
	return m.c.call("cuModuleUnload", func() result { return m.c.d.cuModuleUnload(m.h) })
}

// Launch queues f on grid x block threads with shared bytes of dynamic
// shared memory. args points at the kernel's one parameter, the struct
// the kernel source declares for it, laid out as C lays it out.
func (c *Context) Launch(f Function, grid, block [3]uint32, shared int, args unsafe.Pointer) error {
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(args)
	params := &[1]unsafe.Pointer{args}
	pin.Pin(params)
	return c.call("cuLaunchKernel("+f.Name+")", func() result {
		return c.d.cuLaunchKernel(f.h, grid[0], grid[1], grid[2], block[0], block[1], block[2], uint32(shared), 0,
			unsafe.Pointer(params), nil)
	})
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	var b []byte
	for q := unsafe.Pointer(p); *(*byte)(q) != 0; q = unsafe.Add(q, 1) {
		b = append(b, *(*byte)(q))
	}
	return string(b)
}
