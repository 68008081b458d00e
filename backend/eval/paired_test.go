package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// correlated returns n images (60% lenses) and, per classifier shift, a
// score vector: a per-image difficulty all classifiers share, plus
// shift for lenses, plus a little noise of the classifier's own.
func correlated(seed uint64, n int, shifts ...float64) ([][]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	label := make([]int, n)
	common := make([]float64, n)
	for i := range n {
		if i < n*3/5 {
			label[i] = 1
		}
		common[i] = rng.NormFloat64()
	}
	out := make([][]float64, len(shifts))
	for k, sh := range shifts {
		out[k] = make([]float64, n)
		for i := range n {
			out[k][i] = common[i] + sh*float64(label[i]) + 0.2*rng.NormFloat64()
		}
	}
	return out, label
}

// With one score vector the draws are Bootstrap's own, so the interval of
// the mean is Bootstrap's interval, bit for bit.
func TestMeanIntervalOfOneVectorIsBootstrap(t *testing.T) {
	scores, label := correlated(3, 200, 1.2)
	acc := func(p []float64, l []int) (float64, error) { return Accuracy(p, l, 0.6) }
	for _, tc := range []struct {
		name string
		stat Stat
	}{{"AUC", AUC}, {"accuracy", acc}} {
		want, err := Bootstrap(scores[0], label, 300, 9, tc.stat)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MeanInterval(scores, label, 300, 9, tc.stat)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: MeanInterval %+v, Bootstrap %+v", tc.name, got, want)
		}
	}
}

func TestMeanStat(t *testing.T) {
	scores, label := correlated(4, 120, 0.5, 1.5)
	got, err := MeanStat(scores, label, AUC)
	if err != nil {
		t.Fatal(err)
	}
	a0, _ := AUC(scores[0], label)
	a1, _ := AUC(scores[1], label)
	if math.Abs(got-(a0+a1)/2) > 1e-15 || a0 >= a1 {
		t.Errorf("MeanStat %v, AUCs %v and %v", got, a0, a1)
	}
	iv, err := MeanInterval(scores, label, 200, 1, AUC)
	if err != nil {
		t.Fatal(err)
	}
	if !(iv.Lo < got && got < iv.Hi) {
		t.Errorf("interval %+v misses the mean %v", iv, got)
	}
}

func TestPairedBootstrap(t *testing.T) {
	scores, label := correlated(5, 300, 1.0, 1.3, 1.0)
	weak, strong, twin := scores[0:1], scores[1:2], scores[0:1]
	for _, tc := range []struct {
		name          string
		a, b          [][]float64
		positive, neg bool // the interval lies above or below 0
	}{
		{"stronger minus weaker", strong, weak, true, false},
		{"weaker minus stronger", weak, strong, false, true},
		{"a classifier against itself", weak, twin, false, false},
		{"two seeds, one stronger, against one", scores[1:3], weak, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := PairedBootstrap(tc.a, tc.b, label, 400, 2, AUC)
			if err != nil {
				t.Fatal(err)
			}
			ma, _ := MeanStat(tc.a, label, AUC)
			mb, _ := MeanStat(tc.b, label, AUC)
			if d.Diff != ma-mb || d.Resamples != 400 {
				t.Errorf("diff %v (%d resamples), want %v", d.Diff, d.Resamples, ma-mb)
			}
			if !(d.CI.Lo <= d.Diff && d.Diff <= d.CI.Hi) {
				t.Errorf("interval %+v misses the difference %v", d.CI, d.Diff)
			}
			if (d.CI.Lo > 0) != tc.positive || (d.CI.Hi < 0) != tc.neg {
				t.Errorf("interval %+v: want above 0 %v, below 0 %v", d.CI, tc.positive, tc.neg)
			}
		})
	}
	same, err := PairedBootstrap(weak, twin, label, 100, 2, AUC)
	if err != nil || same.Diff != 0 || same.CI != (Interval{}) {
		t.Errorf("a classifier against itself: %+v, %v; want exactly 0", same, err)
	}
	// Swapping the sides mirrors the interval: the draws are the same.
	ab, _ := PairedBootstrap(strong, weak, label, 400, 2, AUC)
	ba, _ := PairedBootstrap(weak, strong, label, 400, 2, AUC)
	if math.Abs(ab.CI.Lo+ba.CI.Hi) > 1e-12 || math.Abs(ab.CI.Hi+ba.CI.Lo) > 1e-12 {
		t.Errorf("A-B %+v and B-A %+v are not mirrored", ab.CI, ba.CI)
	}
}

// Classifiers that find the same images hard: the paired interval of their
// difference is much narrower than what the two separate intervals allow.
func TestPairingNarrowsTheInterval(t *testing.T) {
	scores, label := correlated(6, 400, 1.0, 1.15)
	d, err := PairedBootstrap(scores[1:], scores[:1], label, 400, 3, AUC)
	if err != nil {
		t.Fatal(err)
	}
	var w [2]float64
	for k := range 2 {
		iv, err := MeanInterval(scores[k:k+1], label, 400, 3, AUC)
		if err != nil {
			t.Fatal(err)
		}
		w[k] = iv.Hi - iv.Lo
	}
	unpaired := math.Hypot(w[0], w[1])
	if paired := d.CI.Hi - d.CI.Lo; paired > unpaired/2 {
		t.Errorf("paired width %v, separate widths %v (combined %v): pairing should narrow it", paired, w, unpaired)
	}
	if d.CI.Lo <= 0 {
		t.Errorf("difference %+v: a shift of 0.15 over 400 shared images should be resolved", d)
	}
}

func TestPairedErrors(t *testing.T) {
	scores, label := correlated(7, 20, 1, 1)
	short := [][]float64{scores[0][:19]}
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"no vectors", func() error { _, err := MeanStat(nil, label, AUC); return err }, "scores: no score vectors"},
		{"short vector", func() error { _, err := MeanInterval(short, label, 10, 1, AUC); return err }, "score vector 0 has 19 scores for 20 labels"},
		{"short side B", func() error { _, err := PairedBootstrap(scores, short, label, 10, 1, AUC); return err }, "side B: score vector 0 has 19"},
		{"empty side A", func() error { _, err := PairedBootstrap(nil, scores, label, 10, 1, AUC); return err }, "side A: no score vectors"},
		{"nil statistic", func() error { _, err := PairedBootstrap(scores, scores, label, 10, 1, nil); return err }, "statistic is nil"},
		{"nil statistic in an interval", func() error { _, err := MeanInterval(scores, label, 10, 1, nil); return err }, "statistic is nil"},
		{"no resamples", func() error { _, err := PairedBootstrap(scores, scores, label, 0, 1, AUC); return err }, "at least 1 resample"},
		{"bad label", func() error { _, err := MeanInterval(scores, append(label[:19:19], 2), 10, 1, AUC); return err }, "label 19 is 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
