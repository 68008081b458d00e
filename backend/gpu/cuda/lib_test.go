package cuda

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// libm finds the C maths library's file, a library every Linux machine has,
// to stand in for the CUDA ones.
func libm(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib/aarch64-linux-gnu"} {
		if p := filepath.Join(dir, "libm.so.6"); fileExists(p) {
			return p
		}
	}
	t.Fatal("libm.so.6 not found in the usual folders")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestOpenMissingLibrarySaysWhatAndWhere(t *testing.T) {
	dir := t.TempDir()
	lib := library{"the test library", []string{"libsslens-absent.so.1", "libsslens-absent.so"}}
	_, err := open(lib, []string{dir, "/nonexistent"})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("open: %v, want a *LoadError", err)
	}
	for _, want := range []string{"the test library not found", "libsslens-absent.so.1, libsslens-absent.so", dir, "/nonexistent", "LD_LIBRARY_PATH", "SSLENS_CUDA_LIB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestOpenFromSearchDirAndBind(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(libm(t), filepath.Join(dir, "libsslens-maths.so")); err != nil {
		t.Fatal(err)
	}
	h, err := open(library{"the maths library", []string{"libsslens-maths.so"}}, []string{"/nonexistent", dir})
	if err != nil {
		t.Fatal(err)
	}
	if h.path != filepath.Join(dir, "libsslens-maths.so") {
		t.Errorf("loaded %s", h.path)
	}
	var cos func(float64) float64
	if err := h.bind(map[string]any{"cos": &cos}); err != nil {
		t.Fatal(err)
	}
	if got := cos(math.Pi / 3); math.Abs(got-0.5) > 1e-15 {
		t.Errorf("cos(pi/3) through the bound function = %v", got)
	}
	var cuInit func(uint32) result
	err = h.bind(map[string]any{"cuInit": &cuInit})
	var le *LoadError
	if !errors.As(err, &le) || le.Symbol != "cuInit" || !strings.Contains(err.Error(), "has no function cuInit") ||
		!strings.Contains(err.Error(), h.path) {
		t.Fatalf("binding a missing function: %v", err)
	}
}

// TestDriverOnThisMachine loads the real driver: on a machine without one
// the error must be a *LoadError naming libcuda; with one, the GPUs it
// lists must have names, memory and a compute capability.
func TestDriverOnThisMachine(t *testing.T) {
	d, err := LoadDriver(SearchDirs())
	if err != nil {
		var le *LoadError
		if !errors.As(err, &le) && !strings.Contains(err.Error(), "cuInit") {
			t.Fatalf("LoadDriver: %v, want a *LoadError or cuInit's error", err)
		}
		if le != nil && !strings.Contains(err.Error(), "libcuda.so.1") {
			t.Errorf("error %q does not name libcuda.so.1", err)
		}
		t.Logf("no driver here: %v", err)
		return
	}
	devs, err := d.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range devs {
		if dev.Name == "" || dev.Memory == 0 || dev.Major == 0 {
			t.Errorf("device %+v", dev)
		}
		t.Logf("cuda:%d %s, %d MiB, %s", dev.Index, dev.Name, dev.Memory>>20, dev.Arch())
	}
}
