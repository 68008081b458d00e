package optim

import "math"

// Cosine returns a per-iteration schedule of epochs*itersPerEpoch values, as
// DINO's utils.cosine_scheduler: a linear warm-up from warmupStart to base
// over warmupEpochs*itersPerEpoch iterations (numpy.linspace, endpoint
// included), then final + (base-final)/2 * (1 + cos(pi*i/n)) for
// i = 0..n-1 over the remaining n iterations. DINO asserts that warm-up fits
// the schedule; here a warm-up longer than the schedule is cut to its length.
// Non-positive sizes give an empty schedule.
func Cosine(base, final float64, epochs, itersPerEpoch, warmupEpochs int, warmupStart float64) []float64 {
	total := 0
	if epochs > 0 && itersPerEpoch > 0 {
		total = epochs * itersPerEpoch
	}
	warmup := max(warmupEpochs*itersPerEpoch, 0)
	out := make([]float64, 0, total)
	// numpy.linspace: start + i*step, the last value set to stop exactly
	// when there are two or more (one value is the start).
	step := (base - warmupStart) / float64(max(warmup-1, 1))
	for i := 0; i < warmup && len(out) < total; i++ {
		v := float64(float64(i)*step) + warmupStart
		if i == warmup-1 && warmup > 1 {
			v = base
		}
		out = append(out, v)
	}
	n := total - len(out)
	half := 0.5 * (base - final)
	for i := 0; i < n; i++ {
		out = append(out, final+float64(half*(1+math.Cos(math.Pi*float64(i)/float64(n)))))
	}
	return out
}
