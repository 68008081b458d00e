package cuda

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// NVRTC is CUDA's run-time compiler bound from libnvrtc.
type NVRTC struct {
	lib *handle

	nvrtcVersion           func(major, minor *int32) result
	nvrtcCreateProgram     func(prog *uintptr, src, name string, nHeaders int32, headers, names unsafe.Pointer) result
	nvrtcCompileProgram    func(prog uintptr, nOptions int32, options unsafe.Pointer) result
	nvrtcGetProgramLogSize func(prog uintptr, n *uint64) result
	nvrtcGetProgramLog     func(prog uintptr, log *byte) result
	nvrtcGetCUBINSize      func(prog uintptr, n *uint64) result
	nvrtcGetCUBIN          func(prog uintptr, out *byte) result
	nvrtcDestroyProgram    func(prog *uintptr) result
	nvrtcGetErrorString    func(r result) *byte
}

// LoadNVRTC loads libnvrtc from dirs (after the dynamic linker's search).
func LoadNVRTC(dirs []string) (*NVRTC, error) {
	h, err := open(libNVRTC, dirs)
	if err != nil {
		return nil, err
	}
	n := &NVRTC{lib: h}
	if err := h.bind(map[string]any{
		"nvrtcVersion": &n.nvrtcVersion, "nvrtcCreateProgram": &n.nvrtcCreateProgram,
		"nvrtcCompileProgram": &n.nvrtcCompileProgram, "nvrtcGetProgramLogSize": &n.nvrtcGetProgramLogSize,
		"nvrtcGetProgramLog": &n.nvrtcGetProgramLog, "nvrtcGetCUBINSize": &n.nvrtcGetCUBINSize,
		"nvrtcGetCUBIN": &n.nvrtcGetCUBIN, "nvrtcDestroyProgram": &n.nvrtcDestroyProgram,
		"nvrtcGetErrorString": &n.nvrtcGetErrorString,
	}); err != nil {
		return nil, err
	}
	return n, nil
}

// Path is NVRTC's file as loaded.
func (n *NVRTC) Path() string { return n.lib.path }

func (n *NVRTC) check(call string, r result) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("cuda: %s: %s", call, goString(n.nvrtcGetErrorString(r)))
}

// Version is NVRTC's "major.minor".
func (n *NVRTC) Version() (string, error) {
	var major, minor int32
	if err := n.check("nvrtcVersion", n.nvrtcVersion(&major, &minor)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d", major, minor), nil
}

// Compile compiles CUDA C source for arch (sm_90) into a CUBIN. A
// compile error returns the compiler's log.
func (n *NVRTC) Compile(name, src, arch string, options ...string) ([]byte, error) {
	var prog uintptr
	if err := n.check("nvrtcCreateProgram", n.nvrtcCreateProgram(&prog, src, name, 0, nil, nil)); err != nil {
		return nil, err
	}
	defer n.nvrtcDestroyProgram(&prog)
	opts := append([]string{"--gpu-architecture=" + arch, "--std=c++17"}, options...)
	cstrs := make([]*byte, len(opts))
	var pin runtime.Pinner
	defer pin.Unpin()
	for i, o := range opts {
		b := append([]byte(o), 0)
		cstrs[i] = &b[0]
		pin.Pin(cstrs[i])
	}
	r := n.nvrtcCompileProgram(prog, int32(len(cstrs)), unsafe.Pointer(&cstrs[0]))
	if r != 0 {
		var size uint64
		log := ""
		if n.nvrtcGetProgramLogSize(prog, &size) == 0 && size > 1 {
			buf := make([]byte, size)
			if n.nvrtcGetProgramLog(prog, &buf[0]) == 0 {
				log = strings.TrimRight(string(buf[:size-1]), "\n")
			}
		}
		return nil, fmt.Errorf("%w (%s, %s)\n%s", n.check("nvrtcCompileProgram", r), name, arch, log)
	}
	var size uint64
	if err := n.check("nvrtcGetCUBINSize", n.nvrtcGetCUBINSize(prog, &size)); err != nil {
		return nil, err
	}
	out := make([]byte, size)
	if size > 0 {
		if err := n.check("nvrtcGetCUBIN", n.nvrtcGetCUBIN(prog, &out[0])); err != nil {
			return nil, err
		}
	}
	return out, nil
}
