package ssl

import (
	"path/filepath"
	"testing"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

// Reading and normalising 64 px cutouts into memory, centre-cropped to
// 32 px, as a run does once at the start (5050 images for the seed's set).
func BenchmarkLoadSet(b *testing.B) {
	dir, s := ssltest.TempDataset(b, ssltest.Spec{Train: ssltest.Split{Lenses: 128, NonLenses: 128, Signal: 1}, Size: 64})
	norm := augment.SeedNormalization()
	b.ResetTimer()
	for b.Loop() {
		if _, err := LoadSet(dir, s.Train, 32, norm); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/256, "µs/image")
}

// The loop's own work per step besides the model: assembling a batch of 64
// with flips and quarter turns, and writing the step's metrics record.
func BenchmarkStepOverhead(b *testing.B) {
	dataDir, _ := ssltest.TempDataset(b, ssltest.Spec{
		Train: ssltest.Split{Lenses: 64, NonLenses: 64, Signal: 1}, Val: ssltest.Split{Lenses: 2, NonLenses: 2},
		Test: ssltest.Split{Lenses: 2, NonLenses: 2}, Size: 32})
	c, err := config.Parse([]byte(`experiment: {ssl_training: supervised, output_dir: ` + filepath.Join(b.TempDir(), "run") + `}
input: {data path: ` + dataDir + `}
network: {backbone: vit_nano}
ssl augmentation kwargs: {rot90: true}
finetune: {augment: true}`))
	if err != nil {
		b.Fatal(err)
	}
	run, err := NewClassifierRun(c, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer run.Close()
	t := &trainer{ClassifierRun: run, batch: make([]float32, 64*run.TrainSet.stride()), labels: make([]int, 64)}
	idx := make([]int, 64)
	for i := range idx {
		idx[i] = 2 * i
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := t.fillBatch(t.batch, t.labels, idx, nil, i); err != nil {
			b.Fatal(err)
		}
		if err := run.log.write(shared.Metric{Kind: shared.MetricStep, Epoch: 1, Step: i, Loss: new(0.5), LR: new(1e-4), Accuracy: new(0.5), ImagesPerSec: new(100.0)}); err != nil {
			b.Fatal(err)
		}
	}
}
