package gpu

import (
	"os"
	"testing"

	"github.com/sslens/sslens/backend/gpu/gputest"
)

// testDevices are the devices the executor's tests run on: the host
// emulation always, and cuda:0 (float32 GEMMs) where this machine has a
// GPU. SSLENS_GPU_REQUIRED=1 makes a missing GPU a failure, for the GPU
// check (make gpu-check).
func testDevices(t *testing.T) map[string]Device {
	t.Helper()
	devs := map[string]Device{"host": gputest.NewHostDevice(t, Source, KernelNames)}
	if _, err := Available(); err != nil {
		if os.Getenv("SSLENS_GPU_REQUIRED") == "1" {
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
