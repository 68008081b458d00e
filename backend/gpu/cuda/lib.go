package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebitengine/purego"
)

// library names one shared library and the file names it goes by, most
// specific first: the driver's ABI is versioned in the soname, the
// toolkit's libraries carry their major version (13 on the machines sslens
// is checked on, 12 on many clusters).
type library struct {
	what  string   // what it is, for errors: "the NVIDIA driver"
	names []string // file names to try
}

var (
	libCUDA   = library{"the NVIDIA driver (libcuda)", []string{"libcuda.so.1", "libcuda.so"}}
	libNVRTC  = library{"NVRTC, CUDA's run-time compiler", []string{"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"}}
	libCUBLAS = library{"cuBLAS", []string{"libcublas.so", "libcublas.so.13", "libcublas.so.12"}}
)

// SearchDirs are the folders tried, after the dynamic linker's own search
// (LD_LIBRARY_PATH, its cache), for a library the linker cannot find by
// name: SSLENS_CUDA_LIB (a colon-separated list), then CUDA_HOME's and
// CUDA_PATH's lib64, then the toolkit's, container runtimes' and
// distributions' usual places.
func SearchDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("SSLENS_CUDA_LIB")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	for _, env := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if root := os.Getenv(env); root != "" {
			dirs = append(dirs, filepath.Join(root, "lib64"))
		}
	}
	// /usr/local/nvidia is where container runtimes mount the driver.
	return append(dirs, "/usr/local/cuda/lib64", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib",
		"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib")
}

// LoadError says that a library could not be loaded or lacks a function:
// what was looked for and where.
type LoadError struct {
	Library string   // what it is
	Names   []string // file names tried
	Dirs    []string // folders tried after the linker's search
	Symbol  string   // the missing function, when the library loaded
	Path    string   // the file that loaded, when Symbol is set
	Err     error    // the last loader error
}

func (e *LoadError) Error() string {
	if e.Symbol != "" {
		return fmt.Sprintf("cuda: %s at %s has no function %s (too old a version?)", e.Library, e.Path, e.Symbol)
	}
	looked := "the dynamic linker's path (LD_LIBRARY_PATH, ldconfig)"
	if len(e.Dirs) > 0 {
		looked += " and " + strings.Join(e.Dirs, ", ")
	}
	return fmt.Sprintf("cuda: %s not found: looked for %s in %s (set SSLENS_CUDA_LIB to its folder): %v",
		e.Library, strings.Join(e.Names, ", "), looked, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// handle is a loaded library.
type handle struct {
	lib  library
	path string
	h    uintptr
}

// open loads lib by name through the dynamic linker, then from each of
// dirs in turn.
func open(lib library, dirs []string) (*handle, error) {
	var last error
	try := func(path string) *handle {
		h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			last = err
			return nil
		}
		return &handle{lib: lib, path: path, h: h}
	}
	for _, name := range lib.names {
		if h := try(name); h != nil {
			return h, nil
		}
	}
	for _, dir := range dirs {
		for _, name := range lib.names {
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); err != nil {
				continue
			}
			if h := try(path); h != nil {
				return h, nil
			}
		}
	}
	if last == nil {
		last = errors.New("no such file")
	}
	return nil, &LoadError{Library: lib.what, Names: lib.names, Dirs: dirs, Err: last}
}

// bind points each function variable at the library's symbol of its name
// (fns maps name to a pointer to a func variable), failing on the first
// missing one with nothing half-bound being used.
func (h *handle) bind(fns map[string]any) error {
	for name, fn := range fns {
		sym, err := purego.Dlsym(h.h, name)
		if err != nil {
			return &LoadError{Library: h.lib.what, Names: h.lib.names, Symbol: name, Path: h.path, Err: err}
		}
		purego.RegisterFunc(fn, sym)
	}
	return nil
}
