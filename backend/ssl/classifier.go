package ssl

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/shared"
)

// Random streams of a run, each a PCG seeded with experiment.seed.
// Augmentation draws come from augment.SampleRNG(seed, epoch, image).
const (
	streamInit    = 1 // initial weights
	streamShuffle = 2 // the order of every epoch
	streamHead    = 3 // a pretraining head's initial weights
	streamWeights = 4 // the images a dataset weight below a whole number shows each epoch
)

// ClassifierRun is a prepared supervised or fine-tune run: build the
// model from Params (with the backbone frozen when
// Config.Finetune.LinearProbe), then call Train. Config, Dir (the run
// folder) and Norm come with it.
type ClassifierRun struct {
	runFolder
	// Params are the weights to build the model from: random
	// (supervised), the pretrained backbone with a new head (fine-tune), or
	// those of the checkpoint a resumed run continues from. Checkpoints are
	// written from them after the model's Vars are copied back.
	Params                    *vit.Params
	TrainSet, ValSet, TestSet *Set

	shares []trainShare // the datasets in TrainSet, the data path's first

	resumedEvals []eval.EpochMetrics // the validation passes before the checkpoint resumed
}

// NewClassifierRun checks cfg, loads the data and the starting weights,
// and opens the run folder: cfg's experiment.output_dir for a fresh run
// (which must not hold a run already), or the folder being resumed. Setup
// notes and config warnings become the first records of the metrics
// stream. Call Close when done.
func NewClassifierRun(cfg *config.Config, opt Options) (*ClassifierRun, error) {
	if m := cfg.Experiment.Method; m != config.Supervised && m != config.Finetune {
		return nil, fmt.Errorf("ssl: experiment.ssl_training %q is not a classifier run (supervised or finetune)", m)
	}
	r := &ClassifierRun{runFolder: runFolder{Config: cfg}}
	ckptDir, splits, splitsPath, err := r.open(opt)
	if err != nil {
		return nil, err
	}
	trainFiles, how, err := labelledTrain(cfg.Finetune, splits)
	if err != nil {
		return nil, err
	}
	r.note(shared.MetricLog, "training on %s", how)

	if err := r.initWeights(splits, ckptDir); err != nil {
		return nil, err
	}
	size := cfg.Input.ImageSize[0]
	for _, s := range []struct {
		dst  **Set
		name string
		cf   data.ClassFiles
	}{{&r.TrainSet, "train", trainFiles}, {&r.ValSet, "val", splits.Val}, {&r.TestSet, "test", splits.Test}} {
		if len(s.cf.Lenses) == 0 || len(s.cf.NonLenses) == 0 {
			return nil, fmt.Errorf("ssl: %s: the %s images have %d lenses and %d non-lenses; both classes are needed",
				splitsPath, s.name, len(s.cf.Lenses), len(s.cf.NonLenses))
		}
		if *s.dst, err = LoadSet(cfg.Input.DataPath, s.cf, size, r.Norm); err != nil {
			return nil, err
		}
	}
	if err := r.addDatasets(); err != nil {
		return nil, err
	}
	if r.cfgJSON, err = cfg.JSON(); err != nil {
		return nil, err
	}

	var kept []shared.Metric
	if ckptDir != "" {
		if kept, err = r.loadResumePoint(ckptDir); err != nil {
			return nil, err
		}
	} else {
		if err := r.create(); err != nil {
			return nil, err
		}
		if cfg.Finetune.Labels != "all" {
			if err := data.WriteSubsetJSON(r.run().Path(layout.SubsetFile), trainFiles); err != nil {
				return nil, err
			}
		}
	}
	if err := r.openLog(kept, opt.Progress); err != nil {
		return nil, err
	}
	if r.resume != nil {
		if err := r.checkBest(r.resumedEvals, r.resume.state); err != nil {
			r.log.close()
			return nil, err
		}
	}
	return r, nil
}

// Close closes the metrics stream.
func (r *ClassifierRun) Close() error { return r.log.close() }

// initWeights sets Params and Norm: from the checkpoint being resumed, or
// a pretrained backbone and its normalisation (fine-tune), or random
// weights and the train split's statistics (supervised).
func (r *ClassifierRun) initWeights(splits data.Splits, resumeDir string) error {
	cfg := r.Config
	p, err := cfg.Preset()
	if err != nil {
		return fmt.Errorf("ssl: %w", err)
	}
	newParams := func(p vit.Preset) (err error) {
		r.Params, err = vit.New(p, 2, rand.New(rand.NewPCG(cfg.Experiment.Seed, streamInit)))
		if err != nil {
			return fmt.Errorf("ssl: %w", err)
		}
		return nil
	}
	if resumeDir != "" {
		sc, _, err := readSidecar(resumeDir)
		if err != nil {
			return err
		}
		if p, err = startPreset(p, sc); err != nil {
			return err
		}
		if err := newParams(p); err != nil {
			return err
		}
		if sc, err = ckpt.LoadInto(layout.Run(resumeDir).Path(layout.ModelFile), r.Params); err != nil {
			return err
		}
		r.Norm, err = toAugment(sc.Normalization)
		return err
	}
	if cfg.Experiment.Method != config.Finetune {
		if err := newParams(p); err != nil {
			return err
		}
	} else {
		path, err := ResolveCheckpoint(cfg.Finetune.Checkpoint)
		if err != nil {
			return err
		}
		ts, sc, err := ckpt.Load(path)
		if err != nil {
			return err
		}
		if sc.Architecture == nil && sc.Preset != "" && sc.Preset != p.Name {
			return fmt.Errorf("ssl: %s holds a %s backbone, network.backbone is %s", path, sc.Preset, p.Name)
		}
		if p, err = startPreset(p, sc); err != nil {
			return err
		}
		if err := newParams(p); err != nil {
			return err
		}
		if sc.Architecture != nil {
			r.note(shared.MetricLog, "backbone architecture %s from %s, in place of network.backbone", p.Name, path)
		}
		head, ignored, err := loadWeights(r.Params, ts)
		if err != nil {
			return fmt.Errorf("ssl: %s: %w", path, err)
		}
		what := "a new head"
		if head {
			what = "its classifier head"
		}
		r.note(shared.MetricLog, "backbone from %s (epoch %d) with %s", path, sc.Epoch, what)
		if len(ignored) > 0 {
			r.note(shared.MetricLog, "%d tensors of %s are not part of the classifier and were left out: %s",
				len(ignored), path, strings.Join(ignored[:min(len(ignored), 4)], ", "))
		}
		switch r.Norm, err = toAugment(sc.Normalization); {
		case err == nil:
			r.note(shared.MetricLog, "normalisation from the pretrained checkpoint")
			return nil
		case imported(sc):
			r.note(shared.MetricLog, "imported weights carry no normalisation; using the train split's statistics")
		default:
			r.note(shared.MetricWarning, "%s has no usable normalisation (%v); using the train split's statistics", path, err)
		}
	}
	r.Norm, err = StatsNormalization(cfg.Input.DataPath, splits, cfg.Input.ImageSize[0])
	return err
}

// loadResumePoint reads the training state and recovers, from the metrics
// stream, what the state does not hold: the validation history and the
// interrupted epoch's running totals. It returns the records to keep.
func (r *ClassifierRun) loadResumePoint(ckptDir string) ([]shared.Metric, error) {
	sc, _, err := readSidecar(ckptDir)
	if err != nil {
		return nil, err
	}
	kept, err := r.resumeFrom(ckptDir, sc, r.batches(), layout.ReportMD)
	if err != nil {
		return nil, err
	}
	for _, rec := range kept {
		if rec.Kind == shared.MetricEval && rec.Split == "val" && rec.Model == "" && rec.Accuracy != nil && rec.AUC != nil {
			r.resumedEvals = append(r.resumedEvals, eval.EpochMetrics{Epoch: rec.Epoch, ValAccuracy: *rec.Accuracy, ValAUC: *rec.AUC})
		}
	}
	return kept, nil
}

// checkBest makes checkpoints/best hold the best epoch of history, the
// validation passes up to the checkpoint being resumed. It can only lag:
// a crash between writing checkpoints/last and checkpoints/best of a new
// best epoch leaves the older best there, and the new one's weights in
// checkpoints/last, which r.Params now hold.
func (r *ClassifierRun) checkBest(history []eval.EpochMetrics, st ckpt.State) error {
	if len(history) == 0 {
		return nil
	}
	_, best, err := eval.SelectBest(history)
	if err != nil {
		return err
	}
	sc, ok, err := readSidecar(r.run().Path(layout.BestDir))
	switch {
	case err != nil:
		return err
	case ok && sc.Epoch == best.Epoch:
		return nil
	case best.Epoch == st.Epoch && st.Step == st.Epoch*r.batches().iters:
		return r.saveBest(best, st.Step)
	}
	held := "nothing"
	if ok {
		held = fmt.Sprintf("epoch %d", sc.Epoch)
	}
	return fmt.Errorf("ssl: %s holds %s, but the best validation AUC up to %s is epoch %d's; it cannot be restored",
		r.run().Path(layout.BestDir), held, layout.LastDir, best.Epoch)
}

// batches splits an epoch's labelled images (each dataset's by its
// weight) into batches of train args.batch_size, the last one possibly
// smaller (PyTorch's DataLoader without drop_last).
func (r *ClassifierRun) batches() batching {
	n, b := 0, r.Config.Train.BatchSize
	for _, s := range r.shares {
		n += s.epochCount()
	}
	return batching{images: n, perStep: b, iters: (n + b - 1) / b}
}
