package eval

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Interval is a confidence interval [Lo, Hi].
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// Stat is a statistic of scores and labels, such as AUC or TPR0.
type Stat func(prob []float64, label []int) (float64, error)

// Bootstrap returns the percentile 95% interval of stat over n resamples.
//
// Resampling is stratified: each resample draws, with replacement, as many
// lenses from the lenses and as many non-lenses from the non-lenses as the
// data holds. The class counts of a val or test split are fixed by design,
// not random, and keeping them keeps AUC defined in every resample. The
// bounds are the 2.5% and 97.5% quantiles of the n values, interpolated
// linearly between order statistics (numpy's default). The draws depend only
// on seed and the class counts. stat must not keep the slices it is given:
// they are reused between resamples.
func Bootstrap(prob []float64, label []int, n int, seed uint64, stat Stat) (Interval, error) {
	vals, err := bootstrapValues(prob, label, n, seed, stat)
	if err != nil {
		return Interval{}, err
	}
	return percentileInterval(vals, 0.95), nil
}

// percentileInterval is the central interval of sorted values holding
// level (0.95: the 2.5% and 97.5% quantiles).
func percentileInterval(sorted []float64, level float64) Interval {
	tail := (1 - level) / 2
	return Interval{Lo: Quantile(sorted, tail), Hi: Quantile(sorted, 1-tail)}
}

// bootstrapValues returns stat over Bootstrap's n resamples, sorted.
func bootstrapValues(prob []float64, label []int, n int, seed uint64, stat Stat) ([]float64, error) {
	if n < 1 {
		return nil, fmt.Errorf("eval: bootstrap needs at least 1 resample, got %d", n)
	}
	if stat == nil {
		return nil, errors.New("eval: bootstrap statistic is nil")
	}
	if _, _, err := check(prob, label); err != nil {
		return nil, err
	}
	var class [2][]int // indices of non-lenses, lenses
	for i, l := range label {
		class[l] = append(class[l], i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x626f6f74)) // "boot"
	rp, rl := make([]float64, len(prob)), make([]int, len(prob))
	vals := make([]float64, n)
	for r := range vals {
		k := 0
		for _, idx := range class {
			for range idx {
				j := idx[rng.IntN(len(idx))]
				rp[k], rl[k] = prob[j], label[j]
				k++
			}
		}
		v, err := stat(rp, rl)
		if err != nil {
			return nil, fmt.Errorf("%w (bootstrap resample %d)", err, r)
		}
		if math.IsNaN(v) {
			return nil, fmt.Errorf("eval: bootstrap resample %d: statistic is NaN", r)
		}
		vals[r] = v
	}
	slices.Sort(vals)
	return vals, nil
}

// Quantile is the q-quantile (q in [0, 1]) of sorted, which must not be
// empty, interpolated linearly between the order statistics at positions
// floor and ceil of q*(n-1), as numpy.quantile does by default.
func Quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(lo)
	return sorted[lo] + f*(sorted[lo+1]-sorted[lo])
}
