package ssl

import (
	"path/filepath"
	"testing"

	"github.com/sslens/sslens/backend/config"
)

// One pretraining step of each reference config (their crops, masks and
// heads) on ViT-N/8 at batch 32: augmentation, teacher, student forward
// and backward, optimiser and EMA; `sslens bench --method` times the same
// PretrainBench.
func BenchmarkPretrainStep(b *testing.B) {
	for _, name := range []string{"dino-vit-small", "ibot-vit-small", "simsiam-vit-small"} {
		b.Run(name, func(b *testing.B) {
			cfg, err := config.Load(filepath.Join("..", "..", "configs", "reference", name+".yaml"))
			if err != nil {
				b.Fatal(err)
			}
			cfg.Network.Backbone, cfg.Train.BatchSize = "vit_nano", 32
			pb, err := NewPretrainBench(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer pb.Close()
			for b.Loop() {
				if err := pb.Step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*32)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
