package gpu

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/gpu/gputest"
)

// testDevices are the devices the executor's tests run on: the host
// emulation always, and cuda:0 (float32 GEMMs) where this machine has a
// GPU. SSLENS_GPU_REQUIRED=1 makes a missing GPU a failure, for the GPU
// check (make gpu-check).
func testDevices(t *testing.T) map[string]Device {
	t.Helper()
	devs := make(map[string]Device)
	if hostEmulation(t) {
		devs["host"] = gputest.NewHostDevice(t, Source, KernelNames)
	}
	if _, err := Available(); err != nil {
		if gpuRequired() {
			t.Fatalf("SSLENS_GPU_REQUIRED=1: %v", err)
		}
		return devs
	}
	d, err := Open(Spec{CUDA: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	devs["cuda"] = d
	return devs
}

func gpuRequired() bool { return os.Getenv("SSLENS_GPU_REQUIRED") == "1" }

// hostEmulation reports whether the host emulation runs: always, except in
// the GPU check on a machine without g++, where the GPU is what is checked.
func hostEmulation(t *testing.T) bool {
	if _, err := exec.LookPath("g++"); err != nil && gpuRequired() {
		t.Logf("no g++ here: the host emulation is left out (%v)", err)
		return false
	}
	return true
}

// TestKernelsCheckAsCUDA checks kernels.cu's device code with clang's CUDA
// front end (the host emulation compiles it as plain C++, which lets a
// host function called from a kernel pass), and that the check catches
// such a call.
func TestKernelsCheckAsCUDA(t *testing.T) {
	if _, err := gputest.Clang(); err != nil && gpuRequired() {
		t.Skip("the GPU check compiles kernels.cu with NVRTC itself")
	}
	if err := gputest.CheckCUDA(Source, "sm_80"); err != nil {
		t.Fatal(err)
	}
	hostOnly := strings.Replace(Source, "__device__ __forceinline__ float gelu(", "__forceinline__ float gelu(", 1)
	if err := gputest.CheckCUDA(hostOnly, "sm_80"); err == nil || !strings.Contains(err.Error(), "erff") {
		t.Errorf("a host function in device code passed the check: %v", err)
	}
}
