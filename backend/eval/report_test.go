package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	score, label := binormal(rng, 458, 300, 2.5)
	for i, s := range score {
		score[i] = 1 / (1 + math.Exp(-s+1.25)) // a probability-like score
	}
	opts := Options{Threshold: 0.5, Bootstrap: 200, Seed: 3}
	r, err := Evaluate(score, label, opts)
	if err != nil {
		t.Fatal(err)
	}
	auc, _ := AUC(score, label)
	acc, _ := Accuracy(score, label, 0.5)
	tpr0, _ := TPR0(score, label)
	aucCI, _ := Bootstrap(score, label, 200, 3, AUC)
	if r.N != 758 || r.Lenses != 458 || r.NonLenses != 300 || r.AUC != auc || r.Accuracy != acc || r.TPR0 != tpr0 {
		t.Errorf("report %+v disagrees with the metrics: AUC %v accuracy %v TPR0 %v", r, auc, acc, tpr0)
	}
	if r.AUCCI == nil || *r.AUCCI != aucCI || r.AccuracyCI == nil || !(r.AccuracyCI.Lo < acc && acc < r.AccuracyCI.Hi) {
		t.Errorf("intervals %v %v, want AUC %v and one around accuracy %v", r.AUCCI, r.AccuracyCI, aucCI, acc)
	}
	c := r.Confusion
	if c.TP+c.FN != 458 || c.TN+c.FP != 300 || c.Accuracy() != acc {
		t.Errorf("confusion %+v does not add up", c)
	}
	if !(r.TPR0 <= r.TPRAt01 && r.TPRAt01 <= r.TPRAt1 && r.TPRAt1 <= 1) || r.TPRAt01 != r.TPR0 {
		// With 300 non-lenses FPR 0.1% allows no false positive.
		t.Errorf("TPR0 %v, TPR at 0.1%% %v, at 1%% %v", r.TPR0, r.TPRAt01, r.TPRAt1)
	}
	if len(r.ROC) < 2 || r.ROC[len(r.ROC)-1].TPR != 1 {
		t.Errorf("ROC of %d points", len(r.ROC))
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"n":758`, `"non_lenses":300`, `"accuracy_ci":{"lo":`, `"auc_ci":`,
		`"tpr_at_fpr_1pct":`, `"tpr_at_fpr_0_1pct":`, `"tpr0":`, `"confusion":{"tp":`, `"roc":[{"fpr":0,"tpr":0,"threshold":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	md := r.Markdown()
	for _, want := range []string{"200 stratified resamples", "758 (458 lenses, 300 non-lenses)", "| ROC AUC | "} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestEvaluateWithoutBootstrap(t *testing.T) {
	prob, label := []float64{0.9, 0.6, 0.4, 0.2}, []int{1, 0, 1, 0}
	opts := DefaultOptions()
	opts.Bootstrap = 0
	r, err := Evaluate(prob, label, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.AccuracyCI != nil || r.AUCCI != nil || r.AUC != 0.75 || r.Accuracy != 0.5 {
		t.Errorf("report %+v", r)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "_ci") {
		t.Errorf("JSON holds intervals that were not computed: %s", b)
	}
	want := "| metric | value | 95% interval (not computed) |\n|---|---|---|\n" +
		"| images | 4 (2 lenses, 2 non-lenses) |  |\n" +
		"| accuracy (threshold 0.5) | 50.00% |  |\n" +
		"| ROC AUC | 0.7500 |  |\n" +
		"| TPR at FPR 1% | 50.00% |  |\n" +
		"| TPR at FPR 0.1% | 50.00% |  |\n" +
		"| TPR0 | 50.00% |  |\n" +
		"| TP / FP / TN / FN | 1 / 1 / 1 / 1 |  |\n"
	if got := r.Markdown(); got != want {
		t.Errorf("Markdown:\n%s\nwant:\n%s", got, want)
	}
}

func TestEvaluateOptions(t *testing.T) {
	prob, label := []float64{0.9, 0.1}, []int{1, 0}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Threshold: math.NaN()}, "threshold NaN"},
		{Options{Threshold: math.Inf(1)}, "threshold +Inf"},
		{Options{Threshold: 0.5, Bootstrap: -1}, "bootstrap -1"},
	} {
		if _, err := Evaluate(prob, label, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
}
