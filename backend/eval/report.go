package eval

import (
	"fmt"
	"math"
	"strings"
)

// Options sets how Evaluate scores a split.
type Options struct {
	Threshold float64 // scores >= Threshold are called lenses
	Bootstrap int     // resamples for the 95% intervals; 0 skips them
	Seed      uint64  // seed of the bootstrap draws
}

// DefaultOptions is threshold 0.5 on P(lens) and 1000 bootstrap resamples.
func DefaultOptions() Options { return Options{Threshold: 0.5, Bootstrap: 1000} }

// Report holds the metrics of one labelled split (val or test).
type Report struct {
	N         int     `json:"n"`
	Lenses    int     `json:"lenses"`
	NonLenses int     `json:"non_lenses"`
	Threshold float64 `json:"threshold"`
	Bootstrap int     `json:"bootstrap"` // resamples behind the intervals, 0 if none
	Seed      uint64  `json:"seed"`

	Accuracy   float64    `json:"accuracy"` // fraction, not percent
	AccuracyCI *Interval  `json:"accuracy_ci,omitempty"`
	AUC        float64    `json:"auc"`
	AUCCI      *Interval  `json:"auc_ci,omitempty"`
	TPRAt1     float64    `json:"tpr_at_fpr_1pct"`   // TPRAtFPR(ROC, 0.01)
	TPRAt01    float64    `json:"tpr_at_fpr_0_1pct"` // TPRAtFPR(ROC, 0.001)
	TPR0       float64    `json:"tpr0"`
	Confusion  Confusion  `json:"confusion"`
	ROC        []ROCPoint `json:"roc"`
}

// Evaluate computes every metric of scores prob against labels. Both classes
// must be present. The two intervals come from the same resamples (one seed).
func Evaluate(prob []float64, label []int, opts Options) (Report, error) {
	if math.IsNaN(opts.Threshold) || math.IsInf(opts.Threshold, 0) {
		return Report{}, fmt.Errorf("eval: threshold %v: want a finite number", opts.Threshold)
	}
	if opts.Bootstrap < 0 {
		return Report{}, fmt.Errorf("eval: bootstrap %d: want 0 (no intervals) or more resamples", opts.Bootstrap)
	}
	lenses, nonLenses, err := checkBoth("evaluation", prob, label)
	if err != nil {
		return Report{}, err
	}
	r := Report{N: len(prob), Lenses: lenses, NonLenses: nonLenses,
		Threshold: opts.Threshold, Bootstrap: opts.Bootstrap, Seed: opts.Seed}
	if r.Confusion, err = ConfusionAt(prob, label, opts.Threshold); err != nil {
		return Report{}, err
	}
	r.Accuracy = r.Confusion.Accuracy()
	if r.AUC, err = AUC(prob, label); err != nil {
		return Report{}, err
	}
	if r.ROC, err = ROC(prob, label); err != nil {
		return Report{}, err
	}
	r.TPRAt1 = TPRAtFPR(r.ROC, 0.01)
	r.TPRAt01 = TPRAtFPR(r.ROC, 0.001)
	if r.TPR0, err = TPR0(prob, label); err != nil {
		return Report{}, err
	}
	if opts.Bootstrap == 0 {
		return r, nil
	}
	acc := func(p []float64, l []int) (float64, error) { return Accuracy(p, l, opts.Threshold) }
	accCI, err := Bootstrap(prob, label, opts.Bootstrap, opts.Seed, acc)
	if err != nil {
		return Report{}, err
	}
	aucCI, err := Bootstrap(prob, label, opts.Bootstrap, opts.Seed, AUC)
	if err != nil {
		return Report{}, err
	}
	r.AccuracyCI, r.AUCCI = &accCI, &aucCI
	return r, nil
}

// Markdown renders the report as a small two- or three-column table.
// Accuracy and rates are in percent, AUC as a fraction.
func (r Report) Markdown() string {
	var b strings.Builder
	ci := func(iv *Interval, scale float64, format string) string {
		if iv == nil {
			return ""
		}
		return fmt.Sprintf(format+" - "+format, scale*iv.Lo, scale*iv.Hi)
	}
	row := func(name, value, interval string) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, value, interval)
	}
	resamples := "not computed"
	if r.Bootstrap > 0 {
		resamples = fmt.Sprintf("%d stratified resamples", r.Bootstrap)
	}
	fmt.Fprintf(&b, "| metric | value | 95%% interval (%s) |\n|---|---|---|\n", resamples)
	row("images", fmt.Sprintf("%d (%d lenses, %d non-lenses)", r.N, r.Lenses, r.NonLenses), "")
	row(fmt.Sprintf("accuracy (threshold %g)", r.Threshold), fmt.Sprintf("%.2f%%", 100*r.Accuracy), ci(r.AccuracyCI, 100, "%.2f%%"))
	row("ROC AUC", fmt.Sprintf("%.4f", r.AUC), ci(r.AUCCI, 1, "%.4f"))
	row("TPR at FPR 1%", fmt.Sprintf("%.2f%%", 100*r.TPRAt1), "")
	row("TPR at FPR 0.1%", fmt.Sprintf("%.2f%%", 100*r.TPRAt01), "")
	row("TPR0", fmt.Sprintf("%.2f%%", 100*r.TPR0), "")
	c := r.Confusion
	row("TP / FP / TN / FN", fmt.Sprintf("%d / %d / %d / %d", c.TP, c.FP, c.TN, c.FN), "")
	return b.String()
}
