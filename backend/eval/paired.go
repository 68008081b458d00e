package eval

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Seeds and pairs: a classifier trained with several seeds gives several
// score vectors over the same images, and two classifiers tested on the
// same images can be compared image by image. The functions below resample
// the images once per bootstrap draw (Bootstrap's stratified draws) and
// apply the draw to every score vector alike, so the seeds of a cell, and
// the two sides of a comparison, always see the same images. Pairing
// removes the part of the sampling noise the two sides share (the hard
// images are hard for both), so a paired interval of a difference is
// narrower than the intervals of the two sides taken apart.

// Diff is a paired comparison of two classifiers on the same images: the
// observed difference of a statistic, side A minus side B, and its
// bootstrap interval at Level (0.95 for a 95% interval).
type Diff struct {
	Diff      float64  `json:"diff"`
	CI        Interval `json:"ci"`
	Level     float64  `json:"level"`
	Resamples int      `json:"resamples"`
}

// MeanStat is the mean of stat over several score vectors of the same
// images (one per seed), with label the images' labels.
func MeanStat(scores [][]float64, label []int, stat Stat) (float64, error) {
	if err := checkVectors("scores", scores, len(label)); err != nil {
		return 0, err
	}
	if stat == nil {
		return 0, errors.New("eval: statistic is nil")
	}
	sum := 0.0
	for i, s := range scores {
		v, err := stat(s, label)
		if err != nil {
			return 0, fmt.Errorf("%w (score vector %d)", err, i)
		}
		sum += v
	}
	return sum / float64(len(scores)), nil
}

// MeanInterval is the percentile 95% interval of MeanStat over n
// stratified resamples of the images drawn with seed.
func MeanInterval(scores [][]float64, label []int, n int, seed uint64, stat Stat) (Interval, error) {
	if err := checkVectors("scores", scores, len(label)); err != nil {
		return Interval{}, err
	}
	vals, err := resampleRows(label, n, seed, func(rows []int, rl []int, buf []float64) (float64, error) {
		return meanOnRows(scores, rows, rl, buf, stat)
	})
	if err != nil {
		return Interval{}, err
	}
	return percentileInterval(vals, 0.95), nil
}

// SeedPairedBootstrap compares classifier A with classifier B, each
// trained with the same seeds: a[i] and b[i] are the test scores of seed
// i's two classifiers (same labelled subset, same initialisation stream).
// Diff is MeanStat(a) minus MeanStat(b). Each of n resamples draws the
// seeds with replacement and the images as Bootstrap does (stratified,
// seeded by seed), and takes the mean over the drawn seeds of stat(a[i])
// minus stat(b[i]) on the drawn images, both sides on the same images. So
// the interval, the central level of those values, covers the spread
// between seeds as well as the sampling of the test images: with seeds
// that disagree it widens however many images there are. With one seed
// it is a paired bootstrap over the images alone.
func SeedPairedBootstrap(a, b [][]float64, label []int, n int, seed uint64, level float64, stat Stat) (Diff, error) {
	for _, side := range []struct {
		name   string
		scores [][]float64
	}{{"side A", a}, {"side B", b}} {
		if err := checkVectors(side.name, side.scores, len(label)); err != nil {
			return Diff{}, err
		}
	}
	if len(a) != len(b) {
		return Diff{}, fmt.Errorf("eval: side A has %d seeds, side B %d: a seed-paired comparison needs the same seeds", len(a), len(b))
	}
	if !(level > 0 && level < 1) {
		return Diff{}, fmt.Errorf("eval: interval level %v is not in (0, 1)", level)
	}
	ma, err := MeanStat(a, label, stat)
	if err != nil {
		return Diff{}, err
	}
	mb, err := MeanStat(b, label, stat)
	if err != nil {
		return Diff{}, err
	}
	seeds := rand.New(rand.NewPCG(seed, 0x7365656473)) // "seeds"
	drawnA, drawnB := make([][]float64, len(a)), make([][]float64, len(b))
	vals, err := resampleRows(label, n, seed, func(rows []int, rl []int, buf []float64) (float64, error) {
		for k := range drawnA {
			j := seeds.IntN(len(a))
			drawnA[k], drawnB[k] = a[j], b[j]
		}
		va, err := meanOnRows(drawnA, rows, rl, buf, stat)
		if err != nil {
			return 0, err
		}
		vb, err := meanOnRows(drawnB, rows, rl, buf, stat)
		return va - vb, err
	})
	if err != nil {
		return Diff{}, err
	}
	return Diff{Diff: ma - mb, CI: percentileInterval(vals, level), Level: level, Resamples: n}, nil
}

// checkVectors checks that there is at least one score vector and that
// each has one score per image.
func checkVectors(what string, scores [][]float64, images int) error {
	if len(scores) == 0 {
		return fmt.Errorf("eval: %s: no score vectors", what)
	}
	for i, s := range scores {
		if len(s) != images {
			return fmt.Errorf("eval: %s: score vector %d has %d scores for %d labels", what, i, len(s), images)
		}
	}
	return nil
}

// resampleRows runs Bootstrap's resampling over the row numbers of the
// images, so that fn sees each resample as the rows drawn (and their
// labels) and can apply them to any number of score vectors; it returns
// fn's values, sorted. buf is scratch space of one score per image for fn.
func resampleRows(label []int, n int, seed uint64, fn func(rows, rl []int, buf []float64) (float64, error)) ([]float64, error) {
	if fn == nil {
		return nil, errors.New("eval: resample function is nil")
	}
	index := make([]float64, len(label))
	for i := range index {
		index[i] = float64(i)
	}
	rows, buf := make([]int, len(label)), make([]float64, len(label))
	return bootstrapValues(index, label, n, seed, func(drawn []float64, rl []int) (float64, error) {
		for i, x := range drawn {
			rows[i] = int(x)
		}
		return fn(rows, rl, buf)
	})
}

// meanOnRows is MeanStat of scores restricted to rows, whose labels are rl.
func meanOnRows(scores [][]float64, rows, rl []int, buf []float64, stat Stat) (float64, error) {
	if stat == nil {
		return 0, errors.New("eval: bootstrap statistic is nil")
	}
	sum := 0.0
	for _, s := range scores {
		for i, r := range rows {
			buf[i] = s[r]
		}
		v, err := stat(buf, rl)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum / float64(len(scores)), nil
}
