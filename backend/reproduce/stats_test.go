package reproduce

import (
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/shared"
)

// The comparisons with supervised training on known scores.
func TestComparisonVerdicts(t *testing.T) {
	label := []int{1, 1, 1, 1, 0, 0, 0, 0}
	good := []float64{0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1}
	poor := []float64{0.9, 0.2, 0.7, 0.3, 0.8, 0.3, 0.6, 0.1}
	seed := func(auc float64) []layout.SeedResult { return []layout.SeedResult{{Seed: 7, AUC: auc}} }
	rows := map[string]*row{
		rowKey("supervised", "b", "300"): {scores: [][]float64{poor}, ResultRow: layout.ResultRow{Seeds: seed(0.5)}},
		rowKey("dino", "b", "300"):       {scores: [][]float64{good}, ResultRow: layout.ResultRow{AUC: shared.Spread{Mean: 1}, Seeds: seed(1)}},
		rowKey("ibot", "b", "300"):       {scores: [][]float64{poor}, ResultRow: layout.ResultRow{AUC: shared.Spread{Mean: 0.5}, Seeds: seed(0.5)}},
	}
	acc := func(p []float64, l []int) (float64, error) { return eval.Accuracy(p, l, 0.5) }
	// A family of 2 comparisons: each at 97.5%, on at least 20 resamples
	// per tail (1600) rather than the 300 asked for.
	cmps, err := compare(rows, "b", "300", []string{"supervised", "dino", "ibot"}, label, 2, 300, acc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmps {
		if c.Family != 2 || c.AUC.Level != 0.975 || c.AUC.Resamples != 1600 || c.Accuracy.Level != 0.975 {
			t.Errorf("%s: family %d, level %v, %d resamples; want 2, 0.975, 1600", c.Method, c.Family, c.AUC.Level, c.AUC.Resamples)
		}
	}
	if d := cmps[0].SeedAUCDiffs; len(d) != 1 || d[0] != 0.5 {
		t.Errorf("dino's per-seed differences %v, want [0.5]", d)
	}
	if len(cmps) != 2 || cmps[0].Method != "dino" || !cmps[0].Best || cmps[1].Best {
		t.Fatalf("comparisons %+v", cmps)
	}
	if cmps[1].Verdict != shared.VerdictNotDistinguished || cmps[1].AUC.Diff != 0 || cmps[1].AUC.CI != (eval.Interval{}) {
		t.Errorf("a classifier against its twin: %+v", cmps[1])
	}
	if d := cmps[0].AUC; d.Diff <= 0 || (cmps[0].Verdict == shared.VerdictBetter) != (d.CI.Lo > 0) {
		t.Errorf("the better classifier: %+v", cmps[0])
	}
	if got, _ := compare(rows, "b", "600", nil, label, 2, 10, acc); got != nil {
		t.Errorf("no supervised row: %+v", got)
	}
	// Sides trained with other seeds cannot be paired.
	rows[rowKey("dino", "b", "300")].Seeds[0].Seed = 8
	if _, err := compare(rows, "b", "300", []string{"supervised", "dino"}, label, 1, 10, acc); err == nil || !strings.Contains(err.Error(), "do not have the same seeds") {
		t.Errorf("unpaired seeds: %v", err)
	}
}
