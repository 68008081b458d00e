package gpu

import (
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/gpu/gputest"
	"github.com/sslens/sslens/backend/nn/vit"
)

// TestLaunchGeometry checks the launch sizes: grid-stride launches cover
// their elements with at most the device's blocks; every preset's
// attention fits a block's 48 KiB of shared memory at the 32 and 64 px the
// models see, and one that cannot (ViT-B/8 at 128 px, 257 tokens) is
// refused when the model is built, naming the need.
func TestLaunchGeometry(t *testing.T) {
	if !hostEmulation(t) {
		t.Skip("checked against the host emulation's limits")
	}
	dev := gputest.NewHostDevice(t, Source, KernelNames)
	k := kernels{dev}
	for n, want := range map[int]int{0: 1, 1: 1, threads: 1, threads + 1: 2, 100 * threads: dev.GridStride()} {
		if got := k.gridFor(n); got != want {
			t.Errorf("gridFor(%d) = %d, want %d", n, got, want)
		}
	}
	for _, p := range vit.Presets() {
		for _, size := range []int{32, 64} {
			g := p.Grid(size)
			if f, b := attentionShared(g*g+1, p.HeadDim()), attentionBackwardShared(g*g+1, p.HeadDim()); max(f, b) > 48<<10 {
				t.Errorf("%s at %d px: attention needs %d and %d bytes of shared memory", p.Name, size, f, b)
			}
		}
	}
	p, err := vit.LookupPreset("vit_base")
	if err != nil {
		t.Fatal(err)
	}
	ps := trainParams(t, p.Dim, 1, p.Heads, 128, false)
	if _, err := NewViT(dev, ps, 1); err == nil || !strings.Contains(err.Error(), "at 128 px: attention needs") {
		t.Errorf("ViT-B/8 at 128 px: %v", err)
	}
}
