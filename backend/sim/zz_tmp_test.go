package sim

import (
	"testing"
	"time"
)

func TestTmpTiming(t *testing.T) {
	for _, snr := range []float64{0, 20} {
		cfg := testConfig(t, "seed")
		cfg.Population.Source.MinSNR = snr
		rd, _ := newRenderer(&cfg, fileNames(cfg))
		start := time.Now()
		for i := 0; i < 300; i++ {
			rd.render(i)
		}
		lens := time.Since(start)
		start = time.Now()
		for i := 2333; i < 2333+300; i++ {
			rd.render(i)
		}
		t.Logf("snr %g: 300 lenses %v, 300 non-lenses %v", snr, lens, time.Since(start))
	}
}
