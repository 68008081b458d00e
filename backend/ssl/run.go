package ssl

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/shared"
)

// Options are a run's settings beyond its config.
type Options struct {
	// Resume continues the run in this folder (or from its checkpoint
	// folder or model file). restore.restore in the config does the same,
	// from restore.ckpt_path or else experiment.output_dir.
	Resume string
	// Progress receives every metrics record; nil for none.
	Progress Progress
	// MaxSteps ends the run after this many optimiser steps in all
	// (resumed sessions included), as a stop does: checkpoints/last is
	// saved and Train returns an error wrapping ErrStepLimit. 0 is no
	// limit. For smoke runs of long configs.
	MaxSteps int
}

// runFolder is what classifier and pretraining runs share: the config,
// the run folder with its metrics stream, and where a resumed run picks
// up. ClassifierRun and PretrainRun embed it.
type runFolder struct {
	Config *config.Config
	Dir    string                // the run folder
	Norm   augment.Normalization // what inputs are normalised with; every checkpoint records it

	cfgJSON  json.RawMessage // Config as checkpoint sidecars hold it
	log      *metricsLog
	resume   *resumePoint    // nil for a fresh run
	notes    []shared.Metric // setup records, written once the metrics stream opens
	maxSteps int             // Options.MaxSteps
}

// resumePoint is where a resumed run picks up.
type resumePoint struct {
	state   ckpt.State
	partial epochTotals // the interrupted epoch's steps
}

// note queues a setup record; the config's warnings come first.
func (f *runFolder) note(kind shared.MetricKind, format string, a ...any) {
	f.notes = append(f.notes, shared.Metric{Kind: kind, Message: fmt.Sprintf(format, a...)})
}

// run is the run folder's typed path.
func (f *runFolder) run() layout.Run { return layout.Run(f.Dir) }

// open queues the config's warnings as the first setup records, opens the
// run folder (see openDir) and reads the dataset's splits from splitsPath
// (see readSplits).
func (f *runFolder) open(opt Options) (ckptDir string, splits data.Splits, splitsPath string, err error) {
	if opt.MaxSteps < 0 {
		return "", data.Splits{}, "", fmt.Errorf("ssl: max steps %d is negative", opt.MaxSteps)
	}
	f.maxSteps = opt.MaxSteps
	for _, w := range f.Config.Warnings {
		f.note(shared.MetricWarning, "config: %s", w)
	}
	if ckptDir, err = f.openDir(opt.Resume); err != nil {
		return "", data.Splits{}, "", err
	}
	splits, splitsPath, err = readSplits(f.Config)
	return ckptDir, splits, splitsPath, err
}

// openDir sets the run folder, f.Dir: the run resumed (from resume, or
// restore.restore: restore.ckpt_path, else experiment.output_dir), whose
// config must train what f.Config trains, or else experiment.output_dir,
// which must not hold a run. It returns the checkpoint folder to resume
// from, "" for a fresh run.
func (f *runFolder) openDir(resume string) (string, error) {
	cfg := f.Config
	if resume == "" && cfg.Restore.Restore {
		resume = cmp.Or(cfg.Restore.CkptPath, cfg.Experiment.OutputDir)
	}
	if resume == "" {
		f.Dir = cfg.Experiment.OutputDir
		if f.Dir == "" {
			return "", errors.New("ssl: experiment.output_dir: empty; set it or pass an output folder")
		}
		_, err := os.Stat(f.run().Path(layout.MetricsFile))
		switch {
		case err == nil:
			return "", fmt.Errorf("ssl: %s holds a run already (%s); resume it or choose another output folder", f.Dir, layout.MetricsFile)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("ssl: %w", err)
		}
		return "", nil
	}
	runDir, ckptDir, err := resumePaths(resume)
	if err != nil {
		return "", err
	}
	f.Dir = runDir
	stored, err := config.Load(f.run().Path(layout.ResolvedConfig))
	if err != nil {
		return "", err
	}
	diff, err := config.Diff(stored, cfg)
	if err != nil {
		return "", err
	}
	if diff != "" {
		return "", fmt.Errorf("ssl: cannot resume %s exactly: the config differs from its %s in %s", f.Dir, layout.ResolvedConfig, diff)
	}
	return ckptDir, nil
}

// create makes a fresh run's folder and writes the config it trains with.
func (f *runFolder) create() error {
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("ssl: %w", err)
	}
	return writeConfig(f.run().Path(layout.ResolvedConfig), f.Config)
}

// resumeFrom reads the training state in ckptDir (saved with the model
// whose sidecar is sc) for a run of b's steps per epoch, recovers the
// interrupted epoch's totals and returns the metrics records to keep;
// report names a finished run's results for the error.
func (f *runFolder) resumeFrom(ckptDir string, sc ckpt.Sidecar, b batching, report string) ([]shared.Metric, error) {
	st, err := loadResumeState(ckptDir, f.Dir, report, sc, b.iters, f.Config.Train.Epochs)
	if err != nil {
		return nil, err
	}
	kept, partial, err := keptRecords(f.run(), st, b)
	if err != nil {
		return nil, err
	}
	f.resume = &resumePoint{state: st, partial: partial}
	f.note(shared.MetricLog, "resumed from %s at epoch %d, step %d", f.run().Path(layout.LastDir), st.Epoch, st.Step)
	return kept, nil
}

// openLog opens the metrics stream, keeping kept, and writes the setup
// notes at the run's starting position. The stream is closed on error.
func (f *runFolder) openLog(kept []shared.Metric, progress Progress) error {
	var err error
	if f.log, err = openMetrics(f.run().Path(layout.MetricsFile), kept, progress); err != nil {
		return err
	}
	epoch, step := f.position()
	for _, n := range f.notes {
		n.Epoch, n.Step = epoch, step
		if err := f.log.write(n); err != nil {
			f.log.close()
			return err
		}
	}
	f.notes = nil
	return nil
}

// position is the epoch and step a fresh or resumed run starts at.
func (f *runFolder) position() (epoch, step int) {
	if f.resume == nil {
		return 0, 0
	}
	return f.resume.state.Epoch, f.resume.state.Step
}

// readSplits reads the splits of cfg's dataset: input.indices, else the
// dataset folder's own.
func readSplits(cfg *config.Config) (data.Splits, string, error) {
	path := cmp.Or(cfg.Input.Indices, data.SplitsFile(cfg.Input.DataPath))
	if path == "" {
		return data.Splits{}, "", fmt.Errorf("ssl: %s has no %s or %s; set input.indices", cfg.Input.DataPath, layout.SplitsJSON, layout.SplitsPickle)
	}
	s, err := data.ReadSplits(path)
	return s, path, err
}

// knnData returns the dataset folder and splits of the kNN monitor:
// train args.knn_dataset's (relative to the training dataset's parent
// folder), else the training data's own.
func knnData(cfg *config.Config, own data.Splits) (string, data.Splits, string, error) {
	dir := cfg.Train.KNNDataset
	if dir == "" {
		return cfg.Input.DataPath, own, cmp.Or(cfg.Input.Indices, data.SplitsFile(cfg.Input.DataPath)), nil
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(filepath.Clean(cfg.Input.DataPath)), dir)
	}
	path := data.SplitsFile(dir)
	if path == "" {
		return "", data.Splits{}, "", fmt.Errorf("ssl: train args.knn_dataset: %s has no %s or %s: want a labelled dataset folder", dir, layout.SplitsJSON, layout.SplitsPickle)
	}
	s, err := data.ReadSplits(path)
	if err != nil {
		return "", data.Splits{}, "", fmt.Errorf("ssl: train args.knn_dataset: %w", err)
	}
	return dir, s, path, nil
}

// FindRun returns the run folder path means: the folder itself, its
// checkpoints/last, or the model file in there.
func FindRun(path string) (string, error) {
	dir, _, err := resumePaths(path)
	return dir, err
}

// resumePaths finds the run folder and its checkpoints/last from a run
// folder, a checkpoint folder or a model file.
func resumePaths(where string) (runDir, ckptDir string, err error) {
	p := filepath.Clean(where)
	if strings.HasSuffix(p, ".safetensors") {
		p = filepath.Dir(p)
	}
	for _, c := range [][2]string{{p, layout.Run(p).Path(layout.LastDir)}, {filepath.Dir(filepath.Dir(p)), p}} {
		if layout.IsFile(filepath.Join(c[1], layout.StateFile)) && layout.IsFile(layout.Run(c[0]).Path(layout.MetricsFile)) {
			return c[0], c[1], nil
		}
	}
	return "", "", fmt.Errorf("ssl: resume %s: not a run folder (no %s with %s)", where, path.Join(layout.LastDir, layout.StateFile), layout.MetricsFile)
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
