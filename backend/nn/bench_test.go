package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// BenchmarkTrainStep times a full training step (forward, backward, AdamW)
// of the classifier at batch 64 with the presets' dropout and drop path.
func BenchmarkTrainStep(b *testing.B) {
	for _, name := range []string{"vit_tiny", "vit_small"} {
		b.Run(name, func(b *testing.B) {
			p, err := vit.LookupPreset(name)
			if err != nil {
				b.Fatal(err)
			}
			const batch = 64
			ps, err := vit.New(p, 2, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				b.Fatal(err)
			}
			c, err := NewClassifier(ps, Options{Batch: batch, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			opt, err := optim.NewAdamW(c.Vars())
			if err != nil {
				b.Fatal(err)
			}
			images, labels := randomBatch(rand.New(rand.NewPCG(3, 4)), batch, p.InChans*p.ImageSize*p.ImageSize)
			step := func() {
				if _, _, err := c.TrainStep(images, labels); err != nil {
					b.Fatal(err)
				}
				opt.Step(1e-4, 0.05)
			}
			step() // compiles the machine and allocates its buffers
			b.ReportAllocs()
			for b.Loop() {
				step()
			}
			b.ReportMetric(batch*float64(b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

// randomBatch returns n standard-normal images of per values and
// alternating labels.
func randomBatch(rng *rand.Rand, n, per int) ([]float32, []int) {
	images, labels := make([]float32, n*per), make([]int, n)
	for i := range images {
		images[i] = float32(rng.NormFloat64())
	}
	for i := range labels {
		labels[i] = i % 2
	}
	return images, labels
}
