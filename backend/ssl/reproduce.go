package ssl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Names a reproduction adds to a cell's run folder.
const (
	CellFile   = "cell.json"        // wall time of the cell's sessions, and whether it finished
	ScoresFile = "test_scores.json" // a classifier's test scores (last epoch)
)

// PretrainFunc pretrains cfg's backbone in the run folder
// cfg.Experiment.OutputDir, continuing the run there when opt.Resume is
// set, and leaves the backbone in its checkpoints/last/model.safetensors.
type PretrainFunc func(ctx context.Context, cfg *config.Config, opt Options) error

// Pretrain is the PretrainFunc of NewPretrainRun's pretraining loop.
func Pretrain(ctx context.Context, cfg *config.Config, opt Options) error {
	run, err := NewPretrainRun(cfg, opt)
	if err != nil {
		return err
	}
	_, err = run.Train(ctx)
	return errors.Join(err, run.Close())
}

// CellModel is the classifier a fine-tune cell trains and tests.
type CellModel interface {
	Model
	Close()
}

// ReproduceOptions are a reproduction's settings beyond its config.
type ReproduceOptions struct {
	// Data, Indices and Output replace the config's data path, indices
	// and output_dir when set.
	Data, Indices, Output string
	// Results is the folder for results.json, results.md and the ROC
	// plots; empty for the output folder.
	Results string
	// Command is the command line, recorded in the results.
	Command string
	// Pretrain runs a pretraining cell; needed when the config lists an
	// SSL method.
	Pretrain PretrainFunc
	// NewModel builds a classifier from parameters for cfg (batch size,
	// seed, frozen backbone).
	NewModel func(ps *vit.Params, cfg *config.Config) (CellModel, error)
	// Reference holds published numbers shown beside the results; nil for
	// none.
	Reference *ReferenceResults
	// OnCell is told when each cell is skipped, starts and ends; nil for
	// nothing.
	OnCell func(CellEvent)
	// Progress receives every metrics record of the cell training now.
	Progress Progress
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

// cellRecord is a cell's CellFile.
type cellRecord struct {
	Cell        string  `json:"cell"`
	WallSeconds float64 `json:"wall_seconds"` // summed over the sessions that trained it
	Sessions    int     `json:"sessions"`
	Finished    bool    `json:"finished"`
}

// testScores is a classifier cell's ScoresFile.
type testScores struct {
	Names  []string  `json:"names"`
	Labels []int     `json:"labels"`
	Scores []float64 `json:"scores"` // P(lens) of the last epoch's model
}

// Reproduce runs the matrix of a reproduce config, the reference project's
// experiment: for each backbone, seed and SSL method, pretraining on the
// whole train split without labels; then, for each label count, a
// classifier fine-tuned from that backbone (trained from random init for
// supervised) on leak-free labels and tested on the test split. Then it
// writes results.json, results.md and the ROC plots (see WriteResults).
//
// Each cell trains in its own run folder under the output folder,
// pretrain/<method>_<backbone>_seed<s> and
// finetune/<method>_<backbone>_<labels>_seed<s>, which also gets CellFile
// and, for classifiers, ScoresFile. A re-run skips finished cells (a
// classifier with report.json, a pretraining marked finished in its
// CellFile), resumes an interrupted one from its checkpoints/last, and
// starts over one that stopped before its first checkpoint; a finished
// cell whose config.resolved.yaml differs from the config planned for it
// now is an error. When ctx ends,
// the cell training stops as Train does (checkpoints/last saved) and
// Reproduce returns an error wrapping ErrStopped; run it again to continue.
func Reproduce(ctx context.Context, rc *ReproduceConfig, opt ReproduceOptions) (*ReproduceResults, error) {
	cells, _, err := rc.Plan(opt.Data, opt.Indices, opt.Output)
	if err != nil {
		return nil, err
	}
	if opt.NewModel == nil {
		return nil, errors.New("reproduce: no classifier constructor (NewModel)")
	}
	for _, c := range cells {
		if c.Kind == CellPretrain && opt.Pretrain == nil {
			return nil, fmt.Errorf("reproduce: methods lists %s, but this build cannot pretrain", c.Method)
		}
	}
	for i, c := range cells {
		if err := runCell(ctx, c, i+1, len(cells), opt); err != nil {
			return nil, err
		}
	}
	res, err := CollectResults(rc, cells, opt)
	if err != nil {
		return nil, err
	}
	return res, WriteResults(cmp.Or(opt.Results, cells[0].outputDir()), res)
}

// outputDir is the reproduction's output folder, two levels above a cell.
func (c *Cell) outputDir() string { return filepath.Dir(filepath.Dir(c.Dir)) }

// runCell brings one cell to its finished state.
func runCell(ctx context.Context, c *Cell, index, total int, opt ReproduceOptions) error {
	tell := func(s CellState, seconds float64) {
		if opt.OnCell != nil {
			opt.OnCell(CellEvent{Index: index, Total: total, Cell: c, State: s, Seconds: seconds})
		}
	}
	done, err := cellDone(c)
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
	if c.Kind == CellPretrain {
		err = opt.Pretrain(ctx, c.Config, Options{Resume: resume, Progress: opt.Progress})
		if err == nil && !isFile(filepath.Join(c.Dir, LastDir, ModelFile)) {
			err = fmt.Errorf("reproduce: %s: the pretraining left no %s", c.Name(), filepath.Join(c.Dir, LastDir, ModelFile))
		}
	} else {
		err = trainClassifier(ctx, c, resume, opt)
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

// cellDone reports whether c finished in an earlier run: a classifier
// with report.json, a pretraining marked finished in its CellFile, or one
// whose checkpoints/last holds all its epochs (it ended before the mark
// was written, which is then written).
func cellDone(c *Cell) (bool, error) {
	if c.Kind == CellFinetune {
		return isFile(filepath.Join(c.Dir, ReportJSON)), nil
	}
	rec, err := readCellRecord(c.Dir)
	if err != nil {
		return false, err
	}
	model := filepath.Join(c.Dir, LastDir, ModelFile)
	if rec.Finished && isFile(model) {
		return true, nil
	}
	if !isFile(filepath.Join(c.Dir, LastDir, stateFile)) || !isFile(model) {
		return false, nil
	}
	st, err := ckpt.LoadState(filepath.Join(c.Dir, LastDir))
	if err != nil || st.Epoch < c.Config.Train.Epochs {
		return false, nil
	}
	rec.Cell, rec.Finished = c.Name(), true
	return true, writeCellRecord(c.Dir, rec)
}

// sameConfig checks that a finished cell trained the config planned for
// it now: a changed reproduce config must not pass off old results as new.
func sameConfig(c *Cell) error {
	stored, err := config.Load(filepath.Join(c.Dir, ConfigFile))
	if err != nil {
		return fmt.Errorf("reproduce: %s: %w", c.Name(), err)
	}
	diff, err := configDiff(stored, c.Config)
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
	last := filepath.Join(c.Dir, LastDir)
	if isFile(filepath.Join(c.Dir, MetricsFile)) && isFile(filepath.Join(last, stateFile)) {
		st, err := ckpt.LoadState(last)
		if err == nil && st.Epoch < c.Config.Train.Epochs {
			return c.Dir, nil
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return "", fmt.Errorf("reproduce: %w", err)
	}
	return "", nil
}

// trainClassifier trains a fine-tune cell; Train writes its report.json.
func trainClassifier(ctx context.Context, c *Cell, resume string, opt ReproduceOptions) error {
	run, err := NewClassifierRun(c.Config, Options{Resume: resume, Progress: opt.Progress})
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

// ensureScores writes a finished classifier's ScoresFile if an earlier
// run ended before writing it.
func ensureScores(ctx context.Context, c *Cell, opt ReproduceOptions) error {
	if isFile(filepath.Join(c.Dir, ScoresFile)) {
		return nil
	}
	return writeScores(ctx, c, opt)
}

// writeScores scores the test split with the cell's checkpoints/last, the
// last epoch's model its report tests, and writes ScoresFile. The scores
// must give the report's test AUC: a check that the two describe the same
// model on the same images.
func writeScores(ctx context.Context, c *Cell, opt ReproduceOptions) error {
	rep, err := readReport(c.Dir)
	if err != nil {
		return err
	}
	ck, err := LoadCheckpoint(filepath.Join(c.Dir, LastDir))
	if err != nil {
		return err
	}
	if ck.Sidecar.Epoch != rep.Last.Epoch {
		return fmt.Errorf("reproduce: %s holds epoch %d, %s tests epoch %d", filepath.Join(c.Dir, LastDir), ck.Sidecar.Epoch, ReportJSON, rep.Last.Epoch)
	}
	cfg := c.Config
	splitsPath := cmp.Or(cfg.Input.Indices, data.SplitsFile(cfg.Input.DataPath))
	splits, err := data.ReadSplits(splitsPath)
	if err != nil {
		return err
	}
	test, err := LoadSet(cfg.Input.DataPath, splits.Test, cfg.Input.ImageSize[0], ck.Norm)
	if err != nil {
		return err
	}
	m, err := opt.NewModel(ck.Params, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	p, err := Predict(ctx, m, test, nil)
	if err != nil {
		return err
	}
	auc, err := eval.AUC(p, test.Labels)
	if err != nil {
		return err
	}
	// Float noise can only swap near-tied scores; a wrong model or
	// normalisation moves the AUC by far more.
	if math.Abs(auc-rep.Last.Test.AUC) > 1e-3 {
		return fmt.Errorf("reproduce: %s: its checkpoints/last scores the test split with AUC %.4f, its report says %.4f",
			c.Dir, auc, rep.Last.Test.AUC)
	}
	b, err := json.Marshal(testScores{Names: test.Names, Labels: test.Labels, Scores: p})
	if err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	return writeFile(filepath.Join(c.Dir, ScoresFile), append(b, '\n'))
}

// readReport reads a classifier run's report.json.
func readReport(dir string) (*Report, error) {
	b, err := os.ReadFile(filepath.Join(dir, ReportJSON))
	if err != nil {
		return nil, fmt.Errorf("reproduce: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reproduce: %s: %w", filepath.Join(dir, ReportJSON), err)
	}
	return &r, nil
}

func readScores(dir string) (*testScores, error) {
	b, err := os.ReadFile(filepath.Join(dir, ScoresFile))
	if err != nil {
		return nil, fmt.Errorf("reproduce: %w", err)
	}
	var s testScores
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reproduce: %s: %w", filepath.Join(dir, ScoresFile), err)
	}
	if len(s.Names) != len(s.Scores) || len(s.Labels) != len(s.Scores) {
		return nil, fmt.Errorf("reproduce: %s: %d names, %d labels, %d scores", filepath.Join(dir, ScoresFile), len(s.Names), len(s.Labels), len(s.Scores))
	}
	return &s, nil
}

// readCellRecord reads dir's CellFile; a missing one is an empty record.
func readCellRecord(dir string) (cellRecord, error) {
	var rec cellRecord
	b, err := os.ReadFile(filepath.Join(dir, CellFile))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		return rec, fmt.Errorf("reproduce: %s: %w", filepath.Join(dir, CellFile), err)
	}
	return rec, nil
}

func writeCellRecord(dir string, rec cellRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	return writeFile(filepath.Join(dir, CellFile), append(b, '\n'))
}

// addSession adds a session of seconds to c's CellFile.
func addSession(c *Cell, seconds float64, finished bool) (cellRecord, error) {
	rec, err := readCellRecord(c.Dir)
	if err != nil {
		return rec, err
	}
	rec.Cell, rec.Finished = c.Name(), finished
	rec.WallSeconds += seconds
	rec.Sessions++
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return rec, fmt.Errorf("reproduce: %w", err)
	}
	return rec, writeCellRecord(c.Dir, rec)
}

// cellSeconds is the wall time of a finished cell: its CellFile's, or,
// for a run that ended before writing one, the span of its metrics
// stream.
func cellSeconds(c *Cell) (float64, error) {
	rec, err := readCellRecord(c.Dir)
	if err != nil || rec.Sessions > 0 {
		return rec.WallSeconds, err
	}
	recs, err := ReadMetrics(filepath.Join(c.Dir, MetricsFile))
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return recs[len(recs)-1].Time.Sub(recs[0].Time).Seconds(), nil
}
