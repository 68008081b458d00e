package reproduce

import (
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
	rows := map[string]*row{
		rowKey("supervised", "b", "300"): {scores: [][]float64{poor}},
		rowKey("dino", "b", "300"):       {scores: [][]float64{good}, ResultRow: layout.ResultRow{AUC: shared.Spread{Mean: 1}}},
		rowKey("ibot", "b", "300"):       {scores: [][]float64{poor}, ResultRow: layout.ResultRow{AUC: shared.Spread{Mean: 0.5}}},
	}
	acc := func(p []float64, l []int) (float64, error) { return eval.Accuracy(p, l, 0.5) }
	cmps, err := compare(rows, "b", "300", []string{"supervised", "dino", "ibot"}, label, 300, acc)
	if err != nil {
		t.Fatal(err)
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
	if got, _ := compare(rows, "b", "600", nil, label, 10, acc); got != nil {
		t.Errorf("no supervised row: %+v", got)
	}
}
