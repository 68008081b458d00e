package ssl

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

// Fine-tuning on several datasets: the extra dataset's train images join
// the epoch by their weight (and the steps with them), normalised with the
// run's statistics or their own; bad datasets are refused by key.
func TestFinetuneOnSeveralDatasets(t *testing.T) {
	root := t.TempDir()
	sim := filepath.Join(root, "sim")
	if _, err := ssltest.WriteDataset(sim, smallSpec); err != nil {
		t.Fatal(err)
	}
	graded := filepath.Join(root, "graded")
	gradedSplits, err := ssltest.WriteDataset(graded, ssltest.Spec{
		Train: ssltest.Split{Lenses: 10, NonLenses: 10, Signal: 1}, Val: ssltest.Split{Lenses: 2, NonLenses: 2, Signal: 1},
		Test: ssltest.Split{Lenses: 2, NonLenses: 2, Signal: 1}, Size: 36, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	unlabelledTwin(t, graded, gradedSplits) // root/survey
	run := func(edit func(*config.Config)) ([]shared.Metric, error) {
		cfg := testConfig(t, sim, filepath.Join(t.TempDir(), "run"), edit)
		_, recs, err := train(t, cfg, Options{}, nil)
		return recs, err
	}
	for _, tc := range []struct {
		normalise, how string
	}{{"", "the run's normalisation"}, {config.NormaliseOwn, "its own train statistics"}} {
		recs, err := run(func(c *config.Config) {
			c.Finetune.Datasets = []config.TrainingDataset{{Path: "graded", Weight: 2}}
			c.Finetune.Normalise = tc.normalise
		})
		if err != nil {
			t.Fatal(err)
		}
		want := "plus 20 train images (10 lenses, 10 non-lenses) of " + graded + ", 40 per epoch (weight 2), normalised with " + tc.how
		if !slices.ContainsFunc(recs, func(m shared.Metric) bool { return m.Message == want }) {
			t.Errorf("no note %q", want)
		}
		// 48 + 40 images an epoch in batches of 16: 6 steps, 4 epochs.
		last := recs[len(recs)-1]
		for _, m := range recs {
			if m.Kind == shared.MetricEpoch {
				last = m
			}
		}
		if last.TotalSteps != 24 || last.Step != 24 {
			t.Errorf("normalise %q: last epoch at step %d of %d, want 24 of 24", tc.normalise, last.Step, last.TotalSteps)
		}
	}
	for _, tc := range []struct {
		ds   config.TrainingDataset
		want string
	}{
		{config.TrainingDataset{Path: "missing"}, "finetune.datasets[0].path: " + filepath.Join(root, "missing") + " has no splits.json"},
		{config.TrainingDataset{Path: "survey"}, "has no labelled train images (20 unlabelled): fine-tuning takes labelled datasets"},
	} {
		_, err := run(func(c *config.Config) { c.Finetune.Datasets = []config.TrainingDataset{tc.ds} })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.ds, err, tc.want)
		}
	}
	for _, tc := range []struct {
		edit func(*config.Config)
		want string
	}{
		{func(c *config.Config) { c.Finetune.Datasets = []config.TrainingDataset{{Path: "graded", Weight: -1}} }, "finetune.datasets[0].weight"},
		{func(c *config.Config) { c.Finetune.Datasets = []config.TrainingDataset{{Weight: 1}} }, "finetune.datasets[0].path"},
		{func(c *config.Config) { c.Finetune.Normalise = "mine" }, `finetune.normalise: "mine": want shared or own`},
	} {
		c := testConfig(t, sim, filepath.Join(t.TempDir(), "run"), nil)
		tc.edit(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate: %v, want %q", err, tc.want)
		}
	}
}

// An epoch shows each dataset's images floor(weight) times and a fresh
// fraction of them once more, the same for the same epoch and seed.
func TestEpochImages(t *testing.T) {
	r := &ClassifierRun{runFolder: runFolder{Config: &config.Config{Train: config.Train{BatchSize: 8}}}, shares: []trainShare{
		{lo: 0, hi: 10, weight: 1}, {lo: 10, hi: 18, weight: 0.5}, {lo: 18, hi: 22, weight: 2.5}}}
	if b := r.batches(); b.images != 10+4+10 {
		t.Fatalf("%d images an epoch, want 24", b.images)
	}
	seen := map[int][]int{}
	for epoch := range 3 {
		list := r.epochImages(epoch)
		if !slices.Equal(list, r.epochImages(epoch)) {
			t.Fatal("the same epoch lists other images")
		}
		count := map[int]int{}
		for _, i := range list {
			count[i]++
		}
		for i := range 22 {
			switch c := count[i]; {
			case i < 10 && c != 1, i >= 10 && i < 18 && c > 1, i >= 18 && c != 2 && c != 3:
				t.Fatalf("epoch %d: image %d shown %d times", epoch, i, c)
			}
		}
		for i := 10; i < 18; i++ {
			if count[i] == 1 {
				seen[epoch] = append(seen[epoch], i)
			}
		}
	}
	if slices.Equal(seen[0], seen[1]) && slices.Equal(seen[1], seen[2]) {
		t.Errorf("the half-weight dataset shows the same half every epoch: %v", seen[0])
	}
}
