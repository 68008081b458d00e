package ssl

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Random streams of a run, each a PCG seeded with experiment.seed.
// Augmentation draws come from augment.SampleRNG(seed, epoch, image).
const (
	streamInit    = 1 // initial weights
	streamShuffle = 2 // the order of every epoch
)

// Options are a run's settings beyond its config.
type Options struct {
	// Resume continues the run in this folder (or from its checkpoint
	// folder or model file). restore.restore in the config does the same,
	// from restore.ckpt_path or else experiment.output_dir.
	Resume string
	// Progress receives every metrics record; nil for none.
	Progress Progress
}

// ClassifierRun is a prepared supervised or fine-tune run: build the
// model from Params (with the backbone frozen when
// Config.Finetune.LinearProbe), then call Train.
type ClassifierRun struct {
	Config *config.Config
	Dir    string // the run folder
	// Params are the weights to build the model from: random
	// (supervised), the pretrained backbone with a new head (fine-tune), or
	// those of the checkpoint a resumed run continues from. Checkpoints are
	// written from them after the model's Vars are copied back.
	Params                    *vit.Params
	Norm                      augment.Normalization
	TrainSet, ValSet, TestSet *Set

	cfgJSON json.RawMessage
	log     *metricsLog
	resume  *resumePoint // nil for a fresh run
}

// resumePoint is where a resumed run picks up.
type resumePoint struct {
	state   ckpt.State
	history []eval.EpochMetrics // the validation passes done so far
	partial epochTotals         // the interrupted epoch's steps
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
	r := &ClassifierRun{Config: cfg}
	var notes []Record
	logf := func(kind Kind, format string, a ...any) {
		notes = append(notes, Record{Kind: kind, Message: fmt.Sprintf(format, a...)})
	}
	for _, w := range cfg.Warnings {
		logf(KindWarning, "config: %s", w)
	}

	ckptDir, err := r.openDir(opt.Resume)
	if err != nil {
		return nil, err
	}

	dataDir := cfg.Input.DataPath
	splitsPath := cmp.Or(cfg.Input.Indices, data.SplitsFile(dataDir))
	if splitsPath == "" {
		return nil, fmt.Errorf("ssl: %s has no splits.json or indices.pkl; set input.indices", dataDir)
	}
	splits, err := data.ReadSplits(splitsPath)
	if err != nil {
		return nil, err
	}
	trainFiles, how, err := labelledTrain(cfg.Finetune, splits)
	if err != nil {
		return nil, err
	}
	logf(KindLog, "training on %s", how)

	if err := r.initWeights(splits, ckptDir, logf); err != nil {
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
		if *s.dst, err = LoadSet(dataDir, s.cf, size, r.Norm); err != nil {
			return nil, err
		}
	}
	if r.cfgJSON, err = configJSON(cfg); err != nil {
		return nil, err
	}

	var kept []Record
	if ckptDir != "" {
		if kept, err = r.loadResumePoint(ckptDir); err != nil {
			return nil, err
		}
		st := r.resume.state
		logf(KindLog, "resumed from %s at epoch %d, step %d", filepath.Join(r.Dir, LastDir), st.Epoch, st.Step)
	} else {
		if err := os.MkdirAll(r.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("ssl: %w", err)
		}
		if err := writeConfig(filepath.Join(r.Dir, ConfigFile), cfg); err != nil {
			return nil, err
		}
		if cfg.Finetune.Labels != "all" {
			if err := data.WriteSubsetJSON(filepath.Join(r.Dir, SubsetFile), trainFiles); err != nil {
				return nil, err
			}
		}
	}
	if r.log, err = openMetrics(filepath.Join(r.Dir, MetricsFile), kept, opt.Progress); err != nil {
		return nil, err
	}
	for _, n := range notes {
		n.Epoch, n.Step = r.position()
		if err = r.log.write(n); err != nil {
			break
		}
	}
	if err == nil && r.resume != nil {
		err = r.checkBest(r.resume.history, r.resume.state)
	}
	if err != nil {
		r.log.close()
		return nil, err
	}
	return r, nil
}

// openDir sets the run folder, r.Dir: the run resumed (from opt.Resume,
// or restore.restore: restore.ckpt_path, else experiment.output_dir),
// whose config must train what cfg trains, or else experiment.output_dir,
// which must not hold a run. It returns the checkpoint folder to resume
// from, "" for a fresh run.
func (r *ClassifierRun) openDir(resume string) (string, error) {
	cfg := r.Config
	if resume == "" && cfg.Restore.Restore {
		resume = cmp.Or(cfg.Restore.CkptPath, cfg.Experiment.OutputDir)
	}
	if resume == "" {
		r.Dir = cfg.Experiment.OutputDir
		if r.Dir == "" {
			return "", errors.New("ssl: experiment.output_dir: empty; set it or pass an output folder")
		}
		_, err := os.Stat(filepath.Join(r.Dir, MetricsFile))
		switch {
		case err == nil:
			return "", fmt.Errorf("ssl: %s holds a run already (%s); resume it or choose another output folder", r.Dir, MetricsFile)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("ssl: %w", err)
		}
		return "", nil
	}
	runDir, ckptDir, err := resumePaths(resume)
	if err != nil {
		return "", err
	}
	r.Dir = runDir
	stored, err := config.Load(filepath.Join(r.Dir, ConfigFile))
	if err != nil {
		return "", err
	}
	diff, err := configDiff(stored, cfg)
	if err != nil {
		return "", err
	}
	if diff != "" {
		return "", fmt.Errorf("ssl: cannot resume %s exactly: the config differs from its %s in %s", r.Dir, ConfigFile, diff)
	}
	return ckptDir, nil
}

// Close closes the metrics stream.
func (r *ClassifierRun) Close() error { return r.log.close() }

// position is the epoch and step a fresh or resumed run starts at.
func (r *ClassifierRun) position() (epoch, step int) {
	if r.resume == nil {
		return 0, 0
	}
	return r.resume.state.Epoch, r.resume.state.Step
}

// initWeights sets Params and Norm: from the checkpoint being resumed, or
// a pretrained backbone and its normalisation (fine-tune), or random
// weights and the train split's statistics (supervised).
func (r *ClassifierRun) initWeights(splits data.Splits, resumeDir string, logf func(Kind, string, ...any)) error {
	cfg := r.Config
	p, err := cfg.Preset()
	if err != nil {
		return fmt.Errorf("ssl: %w", err)
	}
	if r.Params, err = vit.New(p, 2, rand.New(rand.NewPCG(cfg.Experiment.Seed, streamInit))); err != nil {
		return fmt.Errorf("ssl: %w", err)
	}
	if resumeDir != "" {
		sc, err := ckpt.LoadInto(filepath.Join(resumeDir, ModelFile), r.Params)
		if err != nil {
			return err
		}
		r.Norm, err = toAugment(sc.Normalization)
		return err
	}
	if cfg.Experiment.Method == config.Finetune {
		path, err := ResolveCheckpoint(cfg.Finetune.Checkpoint)
		if err != nil {
			return err
		}
		ts, sc, err := ckpt.Load(path)
		if err != nil {
			return err
		}
		if sc.Preset != "" && sc.Preset != p.Name {
			return fmt.Errorf("ssl: %s holds a %s backbone, network.backbone is %s", path, sc.Preset, p.Name)
		}
		head, ignored, err := loadWeights(r.Params, ts)
		if err != nil {
			return fmt.Errorf("ssl: %s: %w", path, err)
		}
		what := "a new head"
		if head {
			what = "its classifier head"
		}
		logf(KindLog, "backbone from %s (epoch %d) with %s", path, sc.Epoch, what)
		if len(ignored) > 0 {
			logf(KindLog, "%d tensors of %s are not part of the classifier and were left out: %s",
				len(ignored), path, strings.Join(ignored[:min(len(ignored), 4)], ", "))
		}
		if r.Norm, err = toAugment(sc.Normalization); err == nil {
			logf(KindLog, "normalisation from the pretrained checkpoint")
			return nil
		}
		logf(KindWarning, "%s has no usable normalisation (%v); using the train split's statistics", path, err)
	}
	r.Norm, err = statsNormalization(cfg.Input.DataPath, splits, cfg.Input.ImageSize[0])
	return err
}

// FindRun returns the run folder path means: the folder itself, its
// checkpoints/last, or the model file in there.
func FindRun(path string) (string, error) {
	dir, _, err := resumePaths(path)
	return dir, err
}

// resumePaths finds the run folder and its checkpoints/last from a run
// folder, a checkpoint folder or a model file.
func resumePaths(path string) (runDir, ckptDir string, err error) {
	p := filepath.Clean(path)
	if strings.HasSuffix(p, ".safetensors") {
		p = filepath.Dir(p)
	}
	for _, c := range [][2]string{{p, filepath.Join(p, LastDir)}, {filepath.Dir(filepath.Dir(p)), p}} {
		if isFile(filepath.Join(c[1], stateFile)) && isFile(filepath.Join(c[0], MetricsFile)) {
			return c[0], c[1], nil
		}
	}
	return "", "", fmt.Errorf("ssl: resume %s: not a run folder (no %s with %s)", path, filepath.Join(LastDir, stateFile), MetricsFile)
}

// loadResumePoint reads the training state and recovers, from the metrics
// stream, what the state does not hold: the validation history and the
// interrupted epoch's running totals. Records written after the checkpoint
// (a crash between checkpoints) are dropped, since those steps are redone;
// it returns the records to keep.
func (r *ClassifierRun) loadResumePoint(ckptDir string) ([]Record, error) {
	sc, _, err := readSidecar(ckptDir)
	if err != nil {
		return nil, err
	}
	iters := r.itersPerEpoch()
	st, err := loadResumeState(ckptDir, r.Dir, ReportMD, sc, iters, r.Config.Train.Epochs)
	if err != nil {
		return nil, err
	}
	all, err := ReadMetrics(filepath.Join(r.Dir, MetricsFile))
	if err != nil {
		return nil, err
	}
	rp := &resumePoint{state: st}
	var kept []Record
	for _, rec := range all {
		if rec.Step > st.Step {
			break
		}
		kept = append(kept, rec)
		switch {
		case rec.Kind == KindEval && rec.Split == "val" && rec.Model == "" && rec.Accuracy != nil && rec.AUC != nil:
			rp.history = append(rp.history, eval.EpochMetrics{Epoch: rec.Epoch, ValAccuracy: *rec.Accuracy, ValAUC: *rec.AUC})
		case rec.Kind == KindStep && rec.Epoch == st.Epoch+1 && rec.Loss != nil && rec.Accuracy != nil:
			k := r.batchLen(rec.Step - 1 - st.Epoch*iters)
			rp.partial.add(*rec.Loss, k, int(math.Round(*rec.Accuracy*float64(k))))
		}
	}
	if want := st.Step - st.Epoch*iters; rp.partial.steps != want {
		return nil, fmt.Errorf("ssl: %s: has %d step records of epoch %d up to step %d, want %d", MetricsFile, rp.partial.steps, st.Epoch+1, st.Step, want)
	}
	r.resume = rp
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
	sc, ok, err := readSidecar(filepath.Join(r.Dir, BestDir))
	switch {
	case err != nil:
		return err
	case ok && sc.Epoch == best.Epoch:
		return nil
	case best.Epoch == st.Epoch && st.Step == st.Epoch*r.itersPerEpoch():
		return r.saveBest(best, st.Step)
	}
	held := "nothing"
	if ok {
		held = fmt.Sprintf("epoch %d", sc.Epoch)
	}
	return fmt.Errorf("ssl: %s holds %s, but the best validation AUC up to %s is epoch %d's; it cannot be restored",
		filepath.Join(r.Dir, BestDir), held, LastDir, best.Epoch)
}

// itersPerEpoch is the number of batches an epoch has, the last one
// possibly smaller (PyTorch's DataLoader without drop_last).
func (r *ClassifierRun) itersPerEpoch() int {
	b := r.Config.Train.BatchSize
	return (r.TrainSet.Len() + b - 1) / b
}

// batchLen is the size of batch i of an epoch.
func (r *ClassifierRun) batchLen(i int) int {
	b := r.Config.Train.BatchSize
	return min(b, r.TrainSet.Len()-i*b)
}

// epochTotals accumulate an epoch's training loss and accuracy.
type epochTotals struct {
	lossSum         float64 // sum over images of the per-image loss (batch mean times batch size)
	images, correct int
	steps           int
}

func (t *epochTotals) add(loss float64, images, correct int) {
	t.lossSum += loss * float64(images)
	t.images += images
	t.correct += correct
	t.steps++
}

// loadResumeState reads the training state in ckptDir and checks that it was
// saved together with the model beside it (sidecar sc) and lies inside an
// unfinished epoch of a run of epochs epochs of iters steps; report names the
// finished run's results for the error.
func loadResumeState(ckptDir, runDir, report string, sc ckpt.Sidecar, iters, epochs int) (ckpt.State, error) {
	st, err := ckpt.LoadState(ckptDir)
	if err != nil {
		return ckpt.State{}, err
	}
	switch {
	case sc.Step != st.Step:
		return ckpt.State{}, fmt.Errorf("ssl: %s: the model is at step %d, the training state at %d: they were not saved together", ckptDir, sc.Step, st.Step)
	case st.Epoch >= epochs:
		return ckpt.State{}, fmt.Errorf("ssl: %s finished all %d epochs; its results are in %s", runDir, epochs, report)
	case st.Step < st.Epoch*iters || st.Step >= (st.Epoch+1)*iters:
		return ckpt.State{}, fmt.Errorf("ssl: %s: step %d is not within epoch %d of %d steps", ckptDir, st.Step, st.Epoch+1, iters)
	}
	return st, nil
}
