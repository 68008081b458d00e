package ssl

import (
	"path/filepath"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/ssl/ssltest"
)

// One pretraining step of each reference config (their crops, masks and
// heads) on ViT-N/8 at batch 32: augmentation, teacher, student forward
// and backward, optimiser and EMA.
func BenchmarkPretrainStep(b *testing.B) {
	dataDir, _ := ssltest.TempDataset(b, ssltest.Spec{
		Train: ssltest.Split{Lenses: 32, NonLenses: 32, Signal: 1}, Val: ssltest.Split{Lenses: 4, NonLenses: 4, Signal: 1},
		Test: ssltest.Split{Lenses: 1, NonLenses: 1, Signal: 1}, Size: 32})
	for _, name := range []string{"dino-vit-small", "ibot-vit-small", "simsiam-vit-small"} {
		b.Run(name, func(b *testing.B) {
			cfg, err := config.Load(filepath.Join("..", "..", "configs", "reference", name+".yaml"))
			if err != nil {
				b.Fatal(err)
			}
			cfg.Network.Backbone, cfg.Train.BatchSize = "vit_nano", 32
			if err := cfg.Resolve(config.Overrides{Data: dataDir, Output: filepath.Join(b.TempDir(), "run")}); err != nil {
				b.Fatal(err)
			}
			run, err := NewPretrainRun(cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer run.Close()
			t := &pretrainer{PretrainRun: run, loop: newLoop(run.batches(), cfg.Train.Epochs), vars: run.m.vars()}
			t.sched = NewSchedules(cfg, t.iters)
			if t.opt, err = optim.New(cfg.Optimizer.Name, t.vars, false); err != nil {
				b.Fatal(err)
			}
			t.batch = newViewBatch(cfg, run.m.patchGrid())
			idx := make([]int, 32)
			for i := range idx {
				idx[i] = 2 * i
			}
			b.ResetTimer()
			for b.Loop() {
				t.step = 0
				if _, err := t.trainStep(0, idx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*32)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
