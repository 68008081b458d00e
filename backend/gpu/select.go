package gpu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/gpu/cuda"
)

// Spec is the device a command computes on: the CPU, or GPU Index.
type Spec struct {
	CUDA  bool
	Index int
}

// ParseDevice reads a --device value or experiment.device: "cpu" (or
// empty), "cuda" (GPU 0) or "cuda:N".
func ParseDevice(s string) (Spec, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch {
	case v == "" || v == "cpu":
		return Spec{}, nil
	case v == "cuda":
		return Spec{CUDA: true}, nil
	case strings.HasPrefix(v, "cuda:"):
		i, err := strconv.Atoi(v[len("cuda:"):])
		if err != nil || i < 0 {
			return Spec{}, fmt.Errorf("device %q: want cuda:N with N a GPU number from 0", s)
		}
		return Spec{CUDA: true, Index: i}, nil
	}
	return Spec{}, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
}

func (s Spec) String() string {
	if !s.CUDA {
		return "cpu"
	}
	return fmt.Sprintf("cuda:%d", s.Index)
}

// Open opens the GPU s names, with TF32 GEMMs when tf32 is set. Without
// the NVIDIA driver, NVRTC or cuBLAS the error says which library was
// looked for and where; with them but no such GPU, how many there are.
func Open(s Spec, tf32 bool) (Device, error) {
	if !s.CUDA {
		return nil, fmt.Errorf("gpu: device %s is not a GPU", s)
	}
	d, err := openCUDA(s.Index, tf32)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", s, err)
	}
	return d, nil
}

// Available lists the GPUs this machine's driver sees, or the error that
// says why there are none to use.
func Available() ([]cuda.DeviceInfo, error) {
	drv, err := cuda.LoadDriver(cuda.SearchDirs())
	if err != nil {
		return nil, err
	}
	return drv.Devices()
}
