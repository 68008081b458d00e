package gpu

import (
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/gpu/gputest"
	"github.com/sslens/sslens/backend/nn/vit"
)

// TestMemoryPlan checks MemoryPlan against what a classifier and its Adam
// optimiser, or an evaluation ViT, allocate on the host device (the plan
// must cover it, within 1%), and that a device with less free memory than
// the plan refuses the model with a message naming both.
func TestMemoryPlan(t *testing.T) {
	if !hostEmulation(t) {
		t.Skip("the plan is checked against the host emulation's allocations")
	}
	p, err := vit.LookupPreset("vit_small")
	if err != nil {
		t.Fatal(err)
	}
	ps := trainParams(t, p.Dim, p.Depth, p.Heads, p.ImageSize, false)
	for _, train := range []bool{false, true} {
		dev := gputest.NewHostDevice(t, Source, KernelNames)
		plan := MemoryPlan(ps.Preset, ps.NumElements(), 64, train)
		if train {
			c, err := NewClassifier(dev, ps, Options{Batch: 64})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.NewOptimizer("adamw", false, 1); err != nil {
				t.Fatal(err)
			}
		} else if _, err := NewViT(dev, ps, 64); err != nil {
			t.Fatal(err)
		}
		used := int64(dev.Allocated())
		if used > plan || float64(plan-used) > 0.01*float64(plan) {
			t.Errorf("train %v: planned %d bytes, allocated %d", train, plan, used)
		}
		t.Logf("ViT-S/8 at batch 64, train %v: planned %.1f MiB, allocated %.1f MiB", train, float64(plan)/(1<<20), float64(used)/(1<<20))

		small := gputest.NewHostDevice(t, Source, KernelNames)
		small.Memory = uint64(plan) - 1
		_, err := NewClassifier(small, ps, Options{Batch: 64})
		if !train {
			_, err = NewViT(small, ps, 64)
		}
		if err == nil || !strings.Contains(err.Error(), "at batch 64 needs") || !strings.Contains(err.Error(), "use a smaller batch") {
			t.Errorf("train %v on a device with too little memory: %v", train, err)
		}
	}
}

// TestFitBatch halves a batch until its step fits the free memory.
func TestFitBatch(t *testing.T) {
	if !hostEmulation(t) {
		t.Skip("the fit is checked against the host emulation's memory")
	}
	ps := trainParams(t, 64, 2, 2, 32, false)
	dev := gputest.NewHostDevice(t, Source, KernelNames)
	if got := FitBatch(dev, ps, 256); got != 256 {
		t.Errorf("with a terabyte free: chunks of %d, want 256", got)
	}
	dev.Memory = uint64(MemoryPlan(ps.Preset, ps.NumElements(), 64, true))
	if got := FitBatch(dev, ps, 256); got != 64 {
		t.Errorf("with room for 64: chunks of %d, want 64", got)
	}
	dev.Memory = 1
	if got := FitBatch(dev, ps, 100); got != 1 {
		t.Errorf("with no room: chunks of %d, want 1 (which NewClassifier then refuses)", got)
	}
}
