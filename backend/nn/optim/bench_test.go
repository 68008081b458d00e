package optim

import (
	"math/rand/v2"
	"testing"

	"github.com/sslens/sslens/backend/nn/vit"
)

// BenchmarkStepViTSmall times one update of every ViT-S/8 parameter
// (21.4M), the optimiser's share of a training step.
func BenchmarkStepViTSmall(b *testing.B) {
	p, _ := vit.LookupPreset("vit_small")
	ps, err := vit.New(p, 2, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"AdamW", "SGD"} {
		b.Run(name, func(b *testing.B) {
			vars := FromParams(ps)
			opt, err := New(name, vars, false)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(4 * int64(ps.NumElements()))
			for b.Loop() {
				opt.Step(1e-4, 0.04)
			}
		})
	}
	b.Run("ClipGradNorm", func(b *testing.B) {
		vars := FromParams(ps)
		b.SetBytes(4 * int64(ps.NumElements()))
		for b.Loop() {
			ClipGradNorm(vars, 1)
		}
	})
}
