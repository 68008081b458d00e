package eval

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// check validates scores and labels and counts each class.
func check(prob []float64, label []int) (lenses, nonLenses int, err error) {
	if len(prob) != len(label) {
		return 0, 0, fmt.Errorf("eval: %d scores but %d labels", len(prob), len(label))
	}
	if len(prob) == 0 {
		return 0, 0, errors.New("eval: no scores")
	}
	for i, p := range prob {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return 0, 0, fmt.Errorf("eval: score %d is %v: want a finite number", i, p)
		}
		switch label[i] {
		case 1:
			lenses++
		case 0:
			nonLenses++
		default:
			return 0, 0, fmt.Errorf("eval: label %d is %d: want 1 (lens) or 0 (non-lens)", i, label[i])
		}
	}
	return lenses, nonLenses, nil
}

// checkBoth is check for metrics that need both classes.
func checkBoth(what string, prob []float64, label []int) (lenses, nonLenses int, err error) {
	lenses, nonLenses, err = check(prob, label)
	if err == nil && (lenses == 0 || nonLenses == 0) {
		err = fmt.Errorf("eval: %s needs both classes, got %d lenses and %d non-lenses", what, lenses, nonLenses)
	}
	return lenses, nonLenses, err
}

// Confusion counts predictions at a threshold; lens is positive.
type Confusion struct {
	TP int `json:"tp"` // lenses predicted lens
	FP int `json:"fp"` // non-lenses predicted lens
	TN int `json:"tn"` // non-lenses predicted non-lens
	FN int `json:"fn"` // lenses predicted non-lens
}

// Accuracy is the fraction of correct predictions, (TP+TN)/N; NaN when
// nothing was counted.
func (c Confusion) Accuracy() float64 {
	return float64(c.TP+c.TN) / float64(c.TP+c.FP+c.TN+c.FN)
}

// ConfusionAt counts predictions when every score >= threshold is called a lens.
func ConfusionAt(prob []float64, label []int, threshold float64) (Confusion, error) {
	if _, _, err := check(prob, label); err != nil {
		return Confusion{}, err
	}
	if math.IsNaN(threshold) {
		return Confusion{}, errors.New("eval: threshold is NaN")
	}
	var c Confusion
	for i, p := range prob {
		switch lens := p >= threshold; {
		case lens && label[i] == 1:
			c.TP++
		case lens:
			c.FP++
		case label[i] == 1:
			c.FN++
		default:
			c.TN++
		}
	}
	return c, nil
}

// Accuracy is the fraction of images classified correctly when every score
// >= threshold is called a lens.
func Accuracy(prob []float64, label []int, threshold float64) (float64, error) {
	c, err := ConfusionAt(prob, label, threshold)
	if err != nil {
		return 0, err
	}
	return c.Accuracy(), nil
}

// tier is one distinct score with the number of lenses and non-lenses that have it.
type tier struct {
	score             float64
	lenses, nonLenses int
}

// tiers groups the scores by value, highest first. O(n log n).
func tiers(prob []float64, label []int) []tier {
	type scored struct {
		p    float64
		lens bool
	}
	s := make([]scored, len(prob))
	for i, p := range prob {
		s[i] = scored{p, label[i] == 1}
	}
	slices.SortFunc(s, func(a, b scored) int { return cmp.Compare(b.p, a.p) })
	out := make([]tier, 0, len(s))
	for _, x := range s {
		if len(out) == 0 || out[len(out)-1].score != x.p {
			out = append(out, tier{score: x.p})
		}
		if x.lens {
			out[len(out)-1].lenses++
		} else {
			out[len(out)-1].nonLenses++
		}
	}
	return out
}

// AUC is the area under the ROC curve: the probability that a random lens
// scores above a random non-lens, a tie counting 1/2 (the Mann-Whitney U
// statistic with average ranks, divided by lenses*non-lenses). Equal scores
// form one diagonal step of the curve, so this equals the trapezoidal area
// under ROC. The count is exact in integers; O(n log n).
func AUC(prob []float64, label []int) (float64, error) {
	lenses, nonLenses, err := checkBoth("AUC", prob, label)
	if err != nil {
		return 0, err
	}
	// twice U: each lens above a non-lens counts 2, each tie 1.
	var u2 int64
	below := int64(nonLenses)
	for _, t := range tiers(prob, label) {
		below -= int64(t.nonLenses)
		u2 += int64(t.lenses) * (2*below + int64(t.nonLenses))
	}
	return float64(u2) / (2 * float64(lenses) * float64(nonLenses)), nil
}

// ROCPoint is one corner of the ROC curve: the rates reached when every score
// >= Threshold is called a lens.
type ROCPoint struct {
	FPR       float64 `json:"fpr"`
	TPR       float64 `json:"tpr"`
	Threshold float64 `json:"threshold"`
}

// ROC returns the ROC curve from (0, 0) to (1, 1), one point per distinct
// score in decreasing threshold order, so FPR and TPR never decrease and
// tied scores make one (diagonal) step. The first point's threshold is the
// next float above the highest score, where nothing is called a lens.
func ROC(prob []float64, label []int) ([]ROCPoint, error) {
	lenses, nonLenses, err := checkBoth("ROC", prob, label)
	if err != nil {
		return nil, err
	}
	ts := tiers(prob, label)
	roc := make([]ROCPoint, 0, len(ts)+1)
	roc = append(roc, ROCPoint{Threshold: math.Nextafter(ts[0].score, math.Inf(1))})
	var tp, fp int
	for _, t := range ts {
		tp += t.lenses
		fp += t.nonLenses
		roc = append(roc, ROCPoint{
			FPR:       float64(fp) / float64(nonLenses),
			TPR:       float64(tp) / float64(lenses),
			Threshold: t.score,
		})
	}
	return roc, nil
}

// TPRAtFPR returns the highest TPR among the ROC points whose FPR is at most
// fpr: the recall of the best threshold that keeps within the false-positive
// budget. It never interpolates between points (which would need a randomised
// classifier), so it is conservative; with N non-lenses any fpr below 1/N
// allows no false positive and gives TPR0. It returns 0 when no point
// qualifies (an empty curve or fpr < 0).
func TPRAtFPR(roc []ROCPoint, fpr float64) float64 {
	best := 0.0
	for _, p := range roc {
		if p.FPR <= fpr {
			best = max(best, p.TPR)
		}
	}
	return best
}

// TPR0 is the fraction of lenses scored strictly above every non-lens: the
// lenses found before the first false positive. A lens tied with the best
// non-lens does not count, so TPR0 equals TPRAtFPR(roc, 0).
func TPR0(prob []float64, label []int) (float64, error) {
	lenses, _, err := checkBoth("TPR0", prob, label)
	if err != nil {
		return 0, err
	}
	top := math.Inf(-1)
	for i, p := range prob {
		if label[i] == 0 {
			top = max(top, p)
		}
	}
	above := 0
	for i, p := range prob {
		if label[i] == 1 && p > top {
			above++
		}
	}
	return float64(above) / float64(lenses), nil
}
