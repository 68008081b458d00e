package reproduce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl"
)

// CellModel is the classifier a fine-tune cell trains and tests.
type CellModel interface {
	ssl.Model
	Close()
}

// Options are a reproduction's settings beyond its config.
type Options struct {
	// Data, Indices and Output replace the config's data path, indices
	// and output_dir when set.
	Data, Indices, Output string
	// Results is the folder for results.json, results.md and the ROC
	// plots; empty for the output folder.
	Results string
	// Command is the command line, recorded in the results.
	Command string
	// NewModel builds a classifier from parameters for cfg (batch size,
	// seed, frozen backbone).
	NewModel func(ps *vit.Params, cfg *config.Config) (CellModel, error)
	// Reference holds published numbers shown beside the results; nil for
	// none.
	Reference *layout.ReferenceResults
	// OnCell is told when each cell is skipped, starts and ends; nil for
	// nothing.
	OnCell func(CellEvent)
	// Progress receives every metrics record of the cell training now.
	Progress ssl.Progress
	// Only, when set, names the one cell to bring to its finished state (a
	// cluster job's share of the matrix); Run then writes no results and
	// returns nil.
	Only string
}

// CellEvent reports a cell's progress: Index (from 1) of Total cells.
type CellEvent struct {
	Index, Total int
	Cell         *Cell
	State        CellState
	Seconds      float64 // Finished: the cell's wall time over all its sessions
}

// CellState is what happened to a cell.
type CellState string

const (
	CellSkipped  CellState = "skipped"  // finished by an earlier run
	CellStarted  CellState = "started"  // training from scratch
	CellResumed  CellState = "resumed"  // continuing from its checkpoints/last
	CellFinished CellState = "finished" // trained (and, for a classifier, scored) now
)

// Run runs the matrix of a reproduce config, the reference project's
// experiment: for each backbone, seed and SSL method, pretraining on the
// whole train split without labels; then, for each label count, a
// classifier fine-tuned from that backbone (trained from random init for
// supervised) on leak-free labels and tested on the test split. Then it
// writes results.json, results.md and one ROC plot per backbone and label
// count into opt.Results.
//
// Each cell trains in its own run folder under the output folder,
// pretrain/<method>_<backbone>_seed<s> and
// finetune/<method>_<backbone>_<labels>_seed<s>, which also gets
// layout.CellFile and, for classifiers, layout.ScoresFile. A re-run skips
// finished cells (a classifier with report.json, a pretraining marked
// finished in its CellFile), resumes an interrupted one from its
// checkpoints/last, and starts over one that stopped before its first
// checkpoint; a finished cell whose config.resolved.yaml differs from the
// config planned for it now is an error. When ctx ends, the cell training
// stops as ssl's loops do (checkpoints/last saved) and Run returns an
// error wrapping ssl.ErrStopped; run it again to continue.
func Run(ctx context.Context, rc *config.ReproduceConfig, opt Options) (*layout.ReproduceResults, error) {
	cells, _, err := Plan(rc, opt.Data, opt.Indices, opt.Output)
	if err != nil {
		return nil, err
	}
	if opt.NewModel == nil {
		return nil, errors.New("reproduce: no classifier constructor (NewModel)")
	}
	if opt.Only != "" {
		return nil, runOnly(ctx, cells, opt)
	}
	for i, c := range cells {
		if err := runCell(ctx, c, i+1, len(cells), opt); err != nil {
			return nil, err
		}
	}
	res, err := collect(rc, cells, opt)
	if err != nil {
		return nil, err
	}
	return res.ReproduceResults, res.write(cmp.Or(opt.Results, cells[0].OutputDir()))
}

// runOnly runs the cell opt.Only names, whose pretraining, if it has one,
// must have finished.
func runOnly(ctx context.Context, cells []*Cell, opt Options) error {
	for i, c := range cells {
		if c.Name() != opt.Only {
			continue
		}
		if p := c.Pretrain; p != nil {
			if done, err := CellDone(p); err != nil || !done {
				return errors.Join(fmt.Errorf("reproduce: %s fine-tunes %s, which has not finished", c.Name(), p.Name()), err)
			}
		}
		return runCell(ctx, c, i+1, len(cells), opt)
	}
	return fmt.Errorf("reproduce: no cell %q in the matrix (sslens reproduce --dry-run lists them)", opt.Only)
}

// runCell brings one cell to its finished state.
func runCell(ctx context.Context, c *Cell, index, total int, opt Options) error {
	tell := func(s CellState, seconds float64) {
		if opt.OnCell != nil {
			opt.OnCell(CellEvent{Index: index, Total: total, Cell: c, State: s, Seconds: seconds})
		}
	}
	done, err := CellDone(c)
	if err != nil {
		return err
	}
	if done {
		if err := sameConfig(c); err != nil {
			return err
		}
		if c.Kind == CellFinetune {
			if err := ensureScores(ctx, c, opt); err != nil {
				return err
			}
		}
		tell(CellSkipped, 0)
		return nil
	}
	resume, err := prepareCellDir(c)
	if err != nil {
		return err
	}
	state := CellStarted
	if resume != "" {
		state = CellResumed
	}
	tell(state, 0)
	began := time.Now()
	sopt := ssl.Options{Resume: resume, Progress: opt.Progress}
	if c.Kind == CellPretrain {
		err = pretrain(ctx, c.Config, sopt)
		if model := c.run().Model(layout.LastDir); err == nil && !layout.IsFile(model) {
			err = fmt.Errorf("reproduce: %s: the pretraining left no %s", c.Name(), model)
		}
	} else {
		err = trainClassifier(ctx, c, sopt, opt)
		if err == nil {
			err = writeScores(ctx, c, opt)
		}
	}
	rec, recErr := addSession(c, time.Since(began).Seconds(), err == nil)
	if err != nil {
		return err
	}
	if recErr != nil {
		return recErr
	}
	tell(CellFinished, rec.WallSeconds)
	return nil
}

// CellDone reports whether c finished in an earlier run: a classifier
// with report.json, a pretraining marked finished in its CellFile, or one
// whose checkpoints/last holds all its epochs (it ended before the mark
// was written, which is then written).
func CellDone(c *Cell) (bool, error) {
	run := c.run()
	if c.Kind == CellFinetune {
		return layout.IsFile(run.Path(layout.ReportJSON)), nil
	}
	rec, err := readCellRecord(c.Dir)
	if err != nil {
		return false, err
	}
	model := run.Model(layout.LastDir)
	if rec.Finished && layout.IsFile(model) {
		return true, nil
	}
	if !layout.IsFile(run.State(layout.LastDir)) || !layout.IsFile(model) {
		return false, nil
	}
	st, err := ckpt.LoadState(run.Path(layout.LastDir))
	if err != nil || st.Epoch < c.Config.Train.Epochs {
		return false, nil
	}
	rec.Cell, rec.Finished = c.Name(), true
	return true, writeCellRecord(c.Dir, rec)
}

// sameConfig checks that a finished cell trained the config planned for
// it now: a changed reproduce config must not pass off old results as new.
func sameConfig(c *Cell) error {
	stored, err := config.Load(c.run().Path(layout.ResolvedConfig))
	if err != nil {
		return fmt.Errorf("reproduce: %s: %w", c.Name(), err)
	}
	diff, err := config.Diff(stored, c.Config)
	if err != nil {
		return err
	}
	if diff != "" {
		return fmt.Errorf("reproduce: %s finished with another config than the reproduce config gives it now (%s); "+
			"restore the reproduce config, or remove %s to train the cell anew", c.Name(), diff, c.Dir)
	}
	return nil
}

// prepareCellDir returns the run folder to resume c from, or "" after
// clearing what an earlier start left that cannot be resumed: a run
// stopped before its first checkpoint, or one that ended its epochs but
// not its report.
func prepareCellDir(c *Cell) (string, error) {
	run := c.run()
	if run.Resumable() {
		st, err := ckpt.LoadState(run.Path(layout.LastDir))
		if err == nil && st.Epoch < c.Config.Train.Epochs {
			return c.Dir, nil
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return "", fmt.Errorf("reproduce: %w", err)
	}
	return "", nil
}

// pretrain trains a pretraining cell; its loop leaves the backbone in
// checkpoints/last.
func pretrain(ctx context.Context, cfg *config.Config, opt ssl.Options) error {
	run, err := ssl.NewPretrainRun(cfg, opt)
	if err != nil {
		return err
	}
	_, err = run.Train(ctx)
	return errors.Join(err, run.Close())
}

// trainClassifier trains a fine-tune cell; its loop writes report.json.
func trainClassifier(ctx context.Context, c *Cell, sopt ssl.Options, opt Options) error {
	run, err := ssl.NewClassifierRun(c.Config, sopt)
	if err != nil {
		return err
	}
	defer run.Close()
	m, err := opt.NewModel(run.Params, c.Config)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = run.Train(ctx, m)
	return err
}
