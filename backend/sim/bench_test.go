package sim

import "testing"

// BenchmarkSimulate renders seed-preset images one after another on one
// goroutine: the reported time is per image.
func BenchmarkSimulate(b *testing.B) {
	p, err := DefaultPresets()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := p.Config("hsc", "seed")
	if err != nil {
		b.Fatal(err)
	}
	rd, err := newRenderer(&cfg, fileNames(cfg))
	if err != nil {
		b.Fatal(err)
	}
	total := cfg.Counts.Total()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Stride through the dataset so lenses and non-lenses alternate.
		if _, _, err := rd.render((i * 37) % total); err != nil {
			b.Fatal(err)
		}
	}
}
