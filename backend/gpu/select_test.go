package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/gpu/cuda"
)

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]Spec{"": {}, "cpu": {}, " CPU ": {}, "cuda": {CUDA: true}, "cuda:0": {CUDA: true},
		"cuda:3": {CUDA: true, Index: 3}, "CUDA:1": {CUDA: true, Index: 1}} {
		got, err := ParseDevice(in)
		if err != nil || got != want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"gpu", "cuda:", "cuda:-1", "cuda:x", "cuda0", "mps"} {
		if _, err := ParseDevice(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseDevice(%q): %v, want an error naming the value", bad, err)
		}
	}
	if s := (Spec{CUDA: true, Index: 2}).String(); s != "cuda:2" {
		t.Errorf("String() = %q", s)
	}
}

// TestOpenWithoutGPU checks what a CPU machine answers for cuda: an error
// naming the device and the driver library looked for, not a crash. On a
// machine with a GPU, cuda:0 must open and a GPU number past the last
// must be refused.
func TestOpenWithoutGPU(t *testing.T) {
	devs, err := Available()
	if err != nil {
		_, openErr := Open(Spec{CUDA: true}, false)
		var le *cuda.LoadError
		if openErr == nil || !errors.As(openErr, &le) || !strings.HasPrefix(openErr.Error(), "device cuda:0: cuda: the NVIDIA driver") {
			t.Fatalf("Open(cuda:0) without a driver: %v", openErr)
		}
		t.Logf("this machine: %v", openErr)
		return
	}
	d, err := Open(Spec{CUDA: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("opened %s", d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Spec{CUDA: true, Index: len(devs)}, false); err == nil || !strings.Contains(err.Error(), "the driver sees") {
		t.Errorf("Open(cuda:%d) of %d GPUs: %v", len(devs), len(devs), err)
	}
}
