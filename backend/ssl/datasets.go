package ssl

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/shared"
)

// besideData resolves a dataset path a config names next to its data
// path: a relative one is taken from the folder holding the data path's
// dataset, where the portal keeps its datasets side by side.
func besideData(cfg *config.Config, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(filepath.Clean(cfg.Input.DataPath)), p)
}

// trainShare is one dataset's images in a classifier's TrainSet, [lo, hi),
// each seen weight times per epoch on average.
type trainShare struct {
	lo, hi int
	weight float64
}

// epochCount is how many images the share puts in every epoch:
// floor(weight) times each, plus round(frac(weight)·n) more.
func (s trainShare) epochCount() int {
	n := s.hi - s.lo
	whole, frac := math.Modf(s.weight)
	return int(whole)*n + int(math.Round(frac*float64(n)))
}

// addDatasets appends the train images of finetune.datasets to TrainSet,
// normalised with the run's normalisation or their own statistics
// (finetune.normalise), and records each dataset's share.
func (r *ClassifierRun) addDatasets() error {
	cfg := r.Config
	r.shares = []trainShare{{lo: 0, hi: r.TrainSet.Len(), weight: 1}}
	size := cfg.Input.ImageSize[0]
	for i, d := range cfg.Finetune.Datasets {
		key := fmt.Sprintf("finetune.datasets[%d]", i)
		dir := besideData(cfg, d.Path)
		path := data.SplitsFile(dir)
		if path == "" {
			return fmt.Errorf("ssl: %s.path: %s has no %s or %s: want a labelled dataset folder", key, dir, layout.SplitsJSON, layout.SplitsPickle)
		}
		sp, err := data.ReadSplits(path)
		if err != nil {
			return fmt.Errorf("ssl: %s.path: %w", key, err)
		}
		train := data.ClassFiles{Lenses: sp.Train.Lenses, NonLenses: sp.Train.NonLenses}
		if train.Len() == 0 {
			return fmt.Errorf("ssl: %s.path: %s has no labelled train images (%d unlabelled): fine-tuning takes labelled datasets", key, dir, len(sp.Train.Unlabelled))
		}
		norm, how := r.Norm, "the run's normalisation"
		if cfg.Finetune.Normalise == config.NormaliseOwn {
			if norm, err = StatsNormalization(dir, sp, size); err != nil {
				return fmt.Errorf("ssl: %s: %w", key, err)
			}
			how = "its own train statistics"
		}
		set, err := LoadSet(dir, train, size, norm)
		if err != nil {
			return fmt.Errorf("ssl: %s: %w", key, err)
		}
		share := trainShare{lo: r.TrainSet.Len(), weight: cmp.Or(d.Weight, 1)}
		r.TrainSet.append(set, d.Path+":")
		share.hi = r.TrainSet.Len()
		r.shares = append(r.shares, share)
		r.note(shared.MetricLog, "plus %d train images (%d lenses, %d non-lenses) of %s, %d per epoch (weight %g), normalised with %s",
			train.Len(), len(train.Lenses), len(train.NonLenses), dir, share.epochCount(), share.weight, how)
	}
	return nil
}

// weighted reports whether the epochs differ from one pass over TrainSet.
func (r *ClassifierRun) weighted() bool {
	return len(r.shares) > 1 || (len(r.shares) == 1 && r.shares[0].weight != 1)
}

// epochImages lists the TrainSet images epoch shows, before the loop
// shuffles them: each share's images floor(weight) times, and a fresh
// round(frac(weight)·n) of them once more, drawn for the epoch from the
// run's seed, so a resumed run shows the same.
func (r *ClassifierRun) epochImages(epoch int) []int {
	var out []int
	rng := rand.New(rand.NewPCG(r.Config.Experiment.Seed, uint64(streamWeights)<<32|uint64(epoch)))
	for _, s := range r.shares {
		n := s.hi - s.lo
		whole, _ := math.Modf(s.weight)
		for range int(whole) {
			for i := s.lo; i < s.hi; i++ {
				out = append(out, i)
			}
		}
		extra := s.epochCount() - int(whole)*n
		for _, k := range rng.Perm(n)[:extra] {
			out = append(out, s.lo+k)
		}
	}
	return out
}

// append adds o's images to s, their names prefixed.
func (s *Set) append(o *Set, prefix string) {
	s.Pix = append(s.Pix, o.Pix...)
	for _, n := range o.Names {
		s.Names = append(s.Names, prefix+n)
	}
	s.Labels = append(s.Labels, o.Labels...)
}
