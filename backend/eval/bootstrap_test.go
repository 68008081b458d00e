package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBootstrapInterval(t *testing.T) {
	acc := func(p []float64, l []int) (float64, error) { return Accuracy(p, l, 0.75) }
	for _, tc := range []struct {
		name string
		stat Stat
	}{{"AUC", AUC}, {"accuracy", acc}} {
		rng := rand.New(rand.NewPCG(11, 12))
		var width []float64
		for _, n := range []int{100, 400, 1600} {
			prob, label := binormal(rng, n*3/5, n*2/5, 1.5)
			point, err := tc.stat(prob, label)
			if err != nil {
				t.Fatal(err)
			}
			iv, err := Bootstrap(prob, label, 400, 7, tc.stat)
			if err != nil {
				t.Fatal(err)
			}
			if !(iv.Lo < point && point < iv.Hi) {
				t.Errorf("%s, %d images: interval %+v misses the estimate %v", tc.name, n, iv, point)
			}
			again, _ := Bootstrap(prob, label, 400, 7, tc.stat)
			other, _ := Bootstrap(prob, label, 400, 8, tc.stat)
			if again != iv {
				t.Errorf("%s, %d images: seed 7 gave %+v then %+v", tc.name, n, iv, again)
			}
			if other == iv {
				t.Errorf("%s, %d images: seeds 7 and 8 both gave %+v", tc.name, n, iv)
			}
			width = append(width, iv.Hi-iv.Lo)
		}
		// Widths shrink like 1/sqrt(n): quadrupling n about halves them.
		for i := 1; i < len(width); i++ {
			if r := width[i] / width[i-1]; r < 0.35 || r > 0.7 {
				t.Errorf("%s: widths %v: ratio %v for 4x the images, want about 0.5", tc.name, width, r)
			}
		}
	}
}

func TestBootstrapKeepsClassCounts(t *testing.T) {
	prob := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7}
	label := []int{1, 0, 0, 1, 0, 0, 0}
	lenses := func(_ []float64, l []int) (float64, error) {
		n := 0
		for _, v := range l {
			n += v
		}
		return float64(n), nil
	}
	iv, err := Bootstrap(prob, label, 50, 1, lenses)
	if err != nil {
		t.Fatal(err)
	}
	if iv.Lo != 2 || iv.Hi != 2 {
		t.Errorf("lens count across resamples spans %+v, want exactly 2", iv)
	}
	// The resampled scores still vary: the mean score is not constant.
	mean := func(p []float64, _ []int) (float64, error) {
		s := 0.0
		for _, v := range p {
			s += v
		}
		return s / float64(len(p)), nil
	}
	if iv, _ := Bootstrap(prob, label, 50, 1, mean); !(iv.Lo < 0.4 && iv.Hi > 0.4) {
		t.Errorf("mean score interval %+v, want it around 0.4", iv)
	}
}

func TestBootstrapArguments(t *testing.T) {
	prob, label := []float64{0.1, 0.9}, []int{0, 1}
	if _, err := Bootstrap(prob, label, 0, 1, AUC); err == nil {
		t.Error("0 resamples accepted")
	}
	if _, err := Bootstrap(prob, label, 10, 1, nil); err == nil {
		t.Error("nil statistic accepted")
	}
	nan := func([]float64, []int) (float64, error) { return math.NaN(), nil }
	if _, err := Bootstrap(prob, label, 10, 1, nan); err == nil {
		t.Error("NaN statistic accepted")
	}
}

// TestBootstrapCoverage draws 200 datasets from a binormal population with
// fixed class counts and checks that about 95% of the intervals hold the
// population value.
func TestBootstrapCoverage(t *testing.T) {
	const (
		datasets, resamples = 200, 200
		lenses, nonLenses   = 60, 40
		shift, threshold    = 1.5, 0.75
	)
	acc := func(p []float64, l []int) (float64, error) { return Accuracy(p, l, threshold) }
	for _, tc := range []struct {
		name  string
		stat  Stat
		truth float64
	}{
		{"AUC", AUC, phi(shift / math.Sqrt2)},
		// P(lens >= 0.75) = Phi(0.75) = P(non-lens < 0.75): accuracy Phi(0.75) for any class mix.
		{"accuracy", acc, phi(shift - threshold)},
	} {
		rng := rand.New(rand.NewPCG(21, 22))
		covered := 0
		for d := range datasets {
			prob, label := binormal(rng, lenses, nonLenses, shift)
			iv, err := Bootstrap(prob, label, resamples, uint64(d), tc.stat)
			if err != nil {
				t.Fatal(err)
			}
			if iv.Lo <= tc.truth && tc.truth <= iv.Hi {
				covered++
			}
		}
		cov := float64(covered) / datasets
		t.Logf("%s: %d of %d intervals hold %.4f", tc.name, covered, datasets, tc.truth)
		// 95% of 200 has a binomial sd of 1.5%; small samples undercover a little.
		if cov < 0.89 || cov > 0.99 {
			t.Errorf("%s: coverage %.3f, want about 0.95", tc.name, cov)
		}
	}
}

func TestQuantile(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5}
	for _, tc := range []struct{ q, want float64 }{
		{0, 1}, {0.025, 1.1}, {0.5, 3}, {0.975, 4.9}, {1, 5}, // numpy.quantile
	} {
		if got := Quantile(sorted, tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quantile %v: %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := Quantile([]float64{7}, 0.975); got != 7 {
		t.Errorf("quantile of one value: %v, want 7", got)
	}
}
