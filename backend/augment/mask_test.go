package augment

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMaskRatio draws 10,000 masks per case: the mean masked fraction is
// within 1% (relative) of the target, every mask holds round(r*h*w)
// patches, and block masks stay in blocks.
func TestMaskRatio(t *testing.T) {
	aspect := [2]float64{0.3, 1 / 0.3}
	tests := []struct {
		name       string
		h, w       int
		ratio, vr  float64
		rand       bool
		wantBlocky float64 // least share of masked patches with a masked 4-neighbour
	}{
		{"iBOT seed 4x4", 4, 4, 0.3, 0, false, 0.85},
		{"4x4 with variance", 4, 4, 0.3, 0.1, false, 0.85},
		{"iBOT 14x14", 14, 14, 0.3, 0, false, 0.95},
		{"half of 2x2", 2, 2, 0.5, 0, false, 0},
		{"rand 4x4", 4, 4, 0.3, 0, true, 0}, // about 0.6 touch by chance
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const draws = 10000
			rng := newRNG(8)
			n := tt.h * tt.w
			var sum float64
			var masked, touching int
			for range draws {
				var m []bool
				if tt.rand {
					m = RandMask(tt.h, tt.w, tt.ratio, tt.vr, rng)
				} else {
					m = BlockMask(tt.h, tt.w, tt.ratio, tt.vr, aspect, 0, rng)
				}
				k := 0
				for i, v := range m {
					if v {
						k++
						if touchesMask(m, tt.h, tt.w, i) {
							touching++
						}
					}
				}
				if tt.vr == 0 {
					if lo := int(tt.ratio * float64(n)); k != lo && k != lo+1 {
						t.Fatalf("mask of %d patches, want %d or %d", k, lo, lo+1)
					}
				}
				masked += k
				sum += float64(k) / float64(n)
			}
			mean := sum / draws
			if math.Abs(mean-tt.ratio) > 0.01*tt.ratio {
				t.Errorf("mean masked fraction %.4f, want %.4f within 1%%", mean, tt.ratio)
			}
			if share := float64(touching) / float64(masked); share < tt.wantBlocky {
				t.Errorf("only %.3f of masked patches touch another, want >= %v", share, tt.wantBlocky)
			}
		})
	}
}

// TestBlockMaskSpread: every patch of a 4x4 grid gets masked sometimes, so
// blocks are placed all over the grid.
func TestBlockMaskSpread(t *testing.T) {
	rng := newRNG(9)
	var hits [16]int
	for range 2000 {
		for i, v := range BlockMask(4, 4, 0.3, 0, [2]float64{0.3, 3.33}, 0, rng) {
			if v {
				hits[i]++
			}
		}
	}
	if mn := slices.Min(hits[:]); mn < 100 {
		t.Errorf("patch hit counts %v: some patch is rarely masked", hits)
	}
}

func TestMaskDeterminism(t *testing.T) {
	draw := func(seed uint64) []bool {
		rng := rand.New(rand.NewPCG(seed, 1))
		var all []bool
		for range 20 {
			all = append(all, BlockMask(4, 4, 0.3, 0.1, [2]float64{0.3, 3.33}, 0, rng)...)
		}
		return all
	}
	if !slices.Equal(draw(1), draw(1)) {
		t.Error("same seed, different masks")
	}
	if slices.Equal(draw(1), draw(2)) {
		t.Error("different seeds, same masks")
	}
	if BlockMask(0, 4, 0.3, 0, [2]float64{1, 1}, 0, newRNG(1)) != nil {
		t.Error("empty grid: want a nil mask")
	}
}
