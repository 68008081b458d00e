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

func TestSeedPairedBootstrap(t *testing.T) {
	scores, label := correlated(5, 300, 1.0, 1.3, 1.0, 1.3)
	weak, strong, twin := scores[0:1], scores[1:2], scores[0:1]
	for _, tc := range []struct {
		name          string
		a, b          [][]float64
		positive, neg bool // the interval lies above or below 0
	}{
		{"stronger minus weaker", strong, weak, true, false},
		{"weaker minus stronger", weak, strong, false, true},
		{"a classifier against itself", weak, twin, false, false},
		{"two stronger seeds against two weaker", [][]float64{scores[1], scores[3]}, [][]float64{scores[0], scores[2]}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := SeedPairedBootstrap(tc.a, tc.b, label, 400, 2, 0.95, AUC)
			if err != nil {
				t.Fatal(err)
			}
			ma, _ := MeanStat(tc.a, label, AUC)
			mb, _ := MeanStat(tc.b, label, AUC)
			if d.Diff != ma-mb || d.Resamples != 400 || d.Level != 0.95 {
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
	same, err := SeedPairedBootstrap(weak, twin, label, 100, 2, 0.95, AUC)
	if err != nil || same.Diff != 0 || same.CI != (Interval{}) {
		t.Errorf("a classifier against itself: %+v, %v; want exactly 0", same, err)
	}
	// Swapping the sides mirrors the interval: the draws are the same.
	ab, _ := SeedPairedBootstrap(strong, weak, label, 400, 2, 0.95, AUC)
	ba, _ := SeedPairedBootstrap(weak, strong, label, 400, 2, 0.95, AUC)
	if math.Abs(ab.CI.Lo+ba.CI.Hi) > 1e-12 || math.Abs(ab.CI.Hi+ba.CI.Lo) > 1e-12 {
		t.Errorf("A-B %+v and B-A %+v are not mirrored", ab.CI, ba.CI)
	}
}

// Classifiers that find the same images hard: the paired interval of their
// difference is much narrower than what the two separate intervals allow.
func TestPairingNarrowsTheInterval(t *testing.T) {
	scores, label := correlated(6, 400, 1.0, 1.15)
	d, err := SeedPairedBootstrap(scores[1:], scores[:1], label, 400, 3, 0.95, AUC)
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

// Seeds that disagree: three seed pairs whose AUC differences are about
// +0.08, -0.02 and +0.03 on 2000 shared images. Test-image resampling
// alone resolves the mean difference (the images are many); resampling
// the seeds too does not, as it must not. When the three seeds agree, the
// same difference is resolved.
func TestSeedSpreadWidensTheInterval(t *testing.T) {
	const n = 2000
	scores, label := correlated(8, n, 1.0, 1.35, 1.0, 0.9, 1.0, 1.15, 1.0, 1.2, 1.0, 1.2, 1.0, 1.2)
	perSeed := func(k int) float64 {
		a, _ := AUC(scores[2*k+1], label)
		b, _ := AUC(scores[2*k], label)
		return a - b
	}
	disagree := [2][][]float64{{scores[1], scores[3], scores[5]}, {scores[0], scores[2], scores[4]}}
	agree := [2][][]float64{{scores[7], scores[9], scores[11]}, {scores[6], scores[8], scores[10]}}
	if d0, d1 := perSeed(0), perSeed(1); !(d0 > 0.03 && d1 < 0) {
		t.Fatalf("fixture: seed differences %.3f and %.3f do not disagree", d0, d1)
	}
	imagesOnly := [][]float64{{}}
	for i := range n { // one score vector per side, the seeds' mean: no seed spread left
		imagesOnly[0] = append(imagesOnly[0], (disagree[0][0][i]+disagree[0][1][i]+disagree[0][2][i])/3)
	}
	ref := [][]float64{{}}
	for i := range n {
		ref[0] = append(ref[0], (disagree[1][0][i]+disagree[1][1][i]+disagree[1][2][i])/3)
	}
	img, err := SeedPairedBootstrap(imagesOnly, ref, label, 1000, 4, 0.95, AUC)
	if err != nil {
		t.Fatal(err)
	}
	if img.CI.Lo <= 0 {
		t.Fatalf("fixture: the images alone do not resolve the difference: %+v", img)
	}
	seeds, err := SeedPairedBootstrap(disagree[0], disagree[1], label, 1000, 4, 0.95, AUC)
	if err != nil {
		t.Fatal(err)
	}
	if seeds.CI.Lo > 0 {
		t.Errorf("seeds that disagree: interval %+v excludes 0", seeds.CI)
	}
	same, err := SeedPairedBootstrap(agree[0], agree[1], label, 1000, 4, 0.95, AUC)
	if err != nil {
		t.Fatal(err)
	}
	if same.CI.Lo <= 0 {
		t.Errorf("seeds that agree: interval %+v holds 0", same.CI)
	}
	// A stricter level widens the interval around the same draws.
	strict, err := SeedPairedBootstrap(agree[0], agree[1], label, 1000, 4, 0.99, AUC)
	if err != nil {
		t.Fatal(err)
	}
	if !(strict.CI.Lo < same.CI.Lo && strict.CI.Hi > same.CI.Hi) {
		t.Errorf("99%% interval %+v is not wider than the 95%% one %+v", strict.CI, same.CI)
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
		{"short side B", func() error { _, err := SeedPairedBootstrap(scores[:1], short, label, 10, 1, 0.95, AUC); return err }, "side B: score vector 0 has 19"},
		{"empty side A", func() error { _, err := SeedPairedBootstrap(nil, scores, label, 10, 1, 0.95, AUC); return err }, "side A: no score vectors"},
		{"unpaired seeds", func() error { _, err := SeedPairedBootstrap(scores, scores[:1], label, 10, 1, 0.95, AUC); return err }, "side A has 2 seeds, side B 1"},
		{"level 1", func() error { _, err := SeedPairedBootstrap(scores, scores, label, 10, 1, 1, AUC); return err }, "level 1 is not in (0, 1)"},
		{"nil statistic", func() error { _, err := SeedPairedBootstrap(scores, scores, label, 10, 1, 0.95, nil); return err }, "statistic is nil"},
		{"nil statistic in an interval", func() error { _, err := MeanInterval(scores, label, 10, 1, nil); return err }, "statistic is nil"},
		{"no resamples", func() error { _, err := SeedPairedBootstrap(scores, scores, label, 0, 1, 0.95, AUC); return err }, "at least 1 resample"},
		{"bad label", func() error { _, err := MeanInterval(scores, append(label[:19:19], 2), 10, 1, AUC); return err }, "label 19 is 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
