package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/sim"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Params are a run's kind-specific settings, stored with it as JSON.
type Params struct {
	// simulate: the dataset folder to write (relative to the data folder)
	// and the simulator's presets and seed.
	Out    string `json:"out,omitempty"`
	Survey string `json:"survey,omitempty"`
	Counts string `json:"counts,omitempty"`
	Seed   uint64 `json:"seed,omitempty"`
	// finetune: a stored checkpoint to fine-tune from (finetune configs);
	// score-batch and score-survey: the checkpoint to score with.
	Checkpoint int64 `json:"checkpoint,omitempty"`
	// score-survey: the cutouts to score, relative to the data folder.
	Cutouts *shared.SurveyRequest `json:"cutouts,omitempty"`
	// score-batch: the uploads to score; empty means all valid uploads.
	Uploads []int64 `json:"uploads,omitempty"`
	// import: the weights file (relative to the data folder) and choices.
	Import *shared.ImportRequest `json:"import,omitempty"`
	// import-data: the cutouts to import (Out is the dataset folder).
	DataImport *shared.ImportDataRequest `json:"data_import,omitempty"`
}

// subcommand is the sslens command each kind runs.
var subcommand = map[shared.RunKind]string{
	shared.KindSimulate:   "simulate",
	shared.KindPretrain:   "pretrain",
	shared.KindFinetune:   "finetune",
	shared.KindReproduce:  "reproduce",
	shared.KindScore:      "score",
	shared.KindImport:     "import-weights",
	shared.KindSurvey:     "score",
	shared.KindImportData: "import-data",
}

// pool is a set of slots that jobs of some kinds share (see Options).
type pool int

const (
	poolTrain pool = iota // simulate, pretrain, finetune, reproduce, score-survey: Options.Slots
	poolScore             // score-batch, import, import-data: Options.ScoreSlots
	poolGPU               // finetune on a GPU (experiment.device cuda): Options.GPUs
)

// poolOf is the pool a kind runs in. Scoring and importing have their own
// because they take seconds to minutes (an import of 100,000 cutouts about
// a minute): behind hours of training they would wait hours, and in a
// training slot they would hold training back. Scoring a survey takes
// hours, and trains' slots.
func poolOf(k shared.RunKind) pool {
	if k == shared.KindScore || k == shared.KindImport || k == shared.KindImportData {
		return poolScore
	}
	return poolTrain
}

// onGPU reports whether a run of kind with config (YAML) and params runs
// on a GPU: a classifier whose experiment.device is cuda, or a survey
// scoring whose request asks for cuda. Pretraining configs that ask for
// cuda run on the CPU (config.Parse warns).
func onGPU(kind shared.RunKind, cfgText string, p Params) bool {
	switch kind {
	case shared.KindFinetune:
		cfg, err := config.Parse([]byte(cfgText))
		if err != nil {
			return false
		}
		spec, err := gpu.ParseDevice(cfg.Experiment.Device)
		return err == nil && spec.CUDA
	case shared.KindSurvey:
		return p.Cutouts != nil && p.Cutouts.Device == "cuda"
	}
	return false
}

// poolFor is the pool run j starts in.
func poolFor(j store.Run) pool {
	var p Params
	if json.Unmarshal(j.Params, &p) == nil && onGPU(j.Kind, j.Config, p) {
		return poolGPU
	}
	return poolOf(j.Kind)
}

// SimulateTotal is the number of images a simulate job with these presets
// writes, or an error naming an unknown preset.
func SimulateTotal(survey, counts string) (int, error) {
	cfg, err := sim.DefaultConfig(survey, counts)
	if err != nil {
		return 0, err
	}
	return cfg.Counts.Total(), nil
}

// checkParams validates what Submit is given for a kind.
func checkParams(nr store.NewRun, p Params) error {
	switch nr.Kind {
	case shared.KindSimulate:
		if p.Out == "" {
			return errors.New("simulate: no output folder")
		}
		_, err := SimulateTotal(p.Survey, p.Counts)
		return err
	case shared.KindFinetune, shared.KindPretrain:
		if nr.Config == "" {
			return fmt.Errorf("%s: no config", nr.Kind)
		}
		if nr.Dataset == 0 {
			return fmt.Errorf("%s: no dataset", nr.Kind)
		}
	case shared.KindReproduce:
		if nr.Dataset == 0 {
			return errors.New("reproduce: no dataset")
		}
	case shared.KindScore:
		if p.Checkpoint == 0 {
			return errors.New("score-batch: no checkpoint")
		}
	case shared.KindImport:
		if p.Import == nil || p.Import.Source == "" {
			return errors.New("import: no source file")
		}
	case shared.KindImportData:
		if p.Out == "" || p.DataImport == nil || p.DataImport.Source == "" {
			return errors.New("import-data: no source or no dataset folder")
		}
	case shared.KindSurvey:
		if p.Checkpoint == 0 {
			return errors.New("score-survey: no checkpoint")
		}
		if p.Cutouts == nil || len(p.Cutouts.Paths)+len(p.Cutouts.Lists) == 0 {
			return errors.New("score-survey: no cutouts to score")
		}
	default:
		return fmt.Errorf("unknown kind %q", nr.Kind)
	}
	return nil
}

// prepare readies a job's run folder for a start and returns the
// subcommand arguments. Training kinds continue from checkpoints/last
// when the folder holds a resumable run and start over otherwise.
func (m *Manager) prepare(ctx context.Context, j store.Run, p Params) ([]string, error) {
	sub := subcommand[j.Kind]
	if m.opt.Available != nil && !m.opt.Available(sub) {
		return nil, fmt.Errorf("sslens %s is not available in this build", sub)
	}
	if j.Dir == "" {
		return nil, errors.New("the run has no folder")
	}
	dir := m.abs(j.Dir)
	run := layout.Run(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	switch j.Kind {
	case shared.KindSimulate:
		out := m.abs(p.Out)
		return []string{sub, "--out", out, "--preset", p.Survey, "--counts", p.Counts,
			"--seed", strconv.FormatUint(p.Seed, 10), "--force", "--preview", layout.Dataset(out).Path(layout.PreviewPNG)}, nil
	case shared.KindFinetune, shared.KindPretrain:
		if run.Resumable() {
			return []string{sub, "--resume", dir}, nil
		}
		// Nothing to resume from: clear what an earlier start left, which
		// the CLI would refuse to overwrite.
		for _, name := range layout.TrainingOutputs {
			if err := os.RemoveAll(run.Path(name)); err != nil {
				return nil, err
			}
		}
		cfgPath := run.Path(layout.SubmittedConfig)
		if err := os.WriteFile(cfgPath, []byte(j.Config), 0o644); err != nil {
			return nil, err
		}
		ds, err := m.datasetDir(ctx, j.Dataset)
		if err != nil {
			return nil, err
		}
		args := []string{sub, cfgPath, "--data", ds, "--out", dir}
		if limit := m.opt.JobMemory; limit > 0 {
			// Where the server's limit binds, the job runs within it.
			if cfg, err := config.Parse([]byte(j.Config)); err == nil {
				if b, err := cfg.Train.Budget(limit); err == nil && b == limit {
					args = append(args, "--max-memory", strconv.FormatInt(limit, 10))
				}
			}
		}
		if p.Checkpoint != 0 {
			c, err := m.st.Checkpoint(ctx, p.Checkpoint)
			if err != nil {
				return nil, err
			}
			args = append(args, "--checkpoint", m.abs(c.Path))
		}
		return args, nil
	case shared.KindReproduce:
		// Running the same command again resumes: the arguments never change.
		ds, err := m.datasetDir(ctx, j.Dataset)
		if err != nil {
			return nil, err
		}
		args := []string{sub, "--data", ds, "--out", dir}
		if sl, ok := m.ex.(*Slurm); ok {
			// The reproduction submits its cells as Slurm jobs of their own.
			args = append(args, sl.fanOutFlags()...)
		}
		if j.Config == "" {
			return args, nil // the command's default config
		}
		cfgPath, err := m.writeReproduceConfig(dir, j.Config)
		if err != nil {
			return nil, err
		}
		return append(args[:1], append([]string{cfgPath}, args[1:]...)...), nil
	case shared.KindScore:
		c, err := m.st.Checkpoint(ctx, p.Checkpoint)
		if err != nil {
			return nil, err
		}
		ups, err := m.st.Uploads(ctx, store.UploadFilter{IDs: p.Uploads})
		if err != nil {
			return nil, err
		}
		if len(ups) == 0 {
			return nil, errors.New("no uploads to score")
		}
		// Start afresh: finish parses stdout.log as one JSON document.
		if err := os.Remove(filepath.Join(dir, layout.StdoutFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		args := []string{sub, "--checkpoint", m.abs(c.Path), "--json"}
		for _, u := range ups {
			args = append(args, m.abs(u.Path))
		}
		return args, nil
	case shared.KindImport:
		return m.importArgs(sub, dir, p.Import)
	case shared.KindSurvey:
		return m.surveyArgs(ctx, sub, dir, p)
	case shared.KindImportData:
		return m.importDataArgs(sub, dir, p)
	}
	return nil, fmt.Errorf("unknown kind %q", j.Kind)
}

// writeReproduceConfig writes a reproduce config into DIR/configs beside a
// copy of the shipped configs, whose base configs it names by relative
// path, and returns its path.
func (m *Manager) writeReproduceConfig(dir, text string) (string, error) {
	if m.opt.Configs == nil {
		return "", errors.New("reproduce: no shipped configs to resolve the config's base configs")
	}
	root := filepath.Join(dir, "configs")
	err := fs.WalkDir(m.opt.Configs, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(m.opt.Configs, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "reproduce.yaml")
	return p, os.WriteFile(p, []byte(text), 0o644)
}

func (m *Manager) datasetDir(ctx context.Context, id int64) (string, error) {
	d, err := m.st.Dataset(ctx, id)
	if err != nil {
		return "", err
	}
	return m.abs(d.Dir), nil
}

// finish does a kind's work after its process ended, whatever the outcome:
// a training run's or an import's checkpoints are recorded, a
// score-batch's scores stored.
func (m *Manager) finish(ctx context.Context, j store.Run, p Params) error {
	switch j.Kind {
	case shared.KindFinetune, shared.KindPretrain:
		for _, name := range layout.CheckpointNames {
			if err := m.registerCheckpoint(ctx, j, path.Join(layout.CheckpointsDir, name)); err != nil {
				return err
			}
		}
	case shared.KindScore:
		return m.storeScores(ctx, j, p)
	case shared.KindImport:
		return m.finishImport(ctx, j)
	}
	return nil
}

// registerCheckpoint records the checkpoint in the run-relative folder
// rel, if its sidecar exists.
func (m *Manager) registerCheckpoint(ctx context.Context, j store.Run, rel string) error {
	model := layout.Run(m.abs(j.Dir)).Model(rel)
	sc, err := readSidecar(model)
	if sc == nil {
		return err
	}
	relModel, err := filepath.Rel(m.opt.DataDir, model)
	if err != nil {
		return err
	}
	_, err = m.st.PutCheckpoint(ctx, store.Checkpoint{
		Checkpoint: shared.Checkpoint{Run: j.ID, Name: filepath.Base(rel), Preset: sc.Preset, Classifier: sc.NumClasses > 0,
			Epoch: sc.Epoch, Step: sc.Step, Metrics: sc.Metrics, SHA256: sc.SHA256, Created: sc.Created},
		Path: relModel,
	})
	return err
}

// readSidecar reads the sidecar of the weights file model; nil without
// an error when there is none (the run wrote no checkpoint there).
func readSidecar(model string) (*ckpt.Sidecar, error) {
	sc, err := ckpt.ReadSidecar(model)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &sc, nil
}

// scoreOutput is what `sslens score --json` prints.
type scoreOutput struct {
	Scores []struct {
		File     string  `json:"file"`
		LensProb float64 `json:"lens_prob"`
	} `json:"scores"`
	Failures []struct {
		File  string `json:"file"`
		Error string `json:"error"`
	} `json:"failures"`
}

// storeScores reads a finished score-batch's output and stores the scores.
func (m *Manager) storeScores(ctx context.Context, j store.Run, p Params) error {
	b, err := os.ReadFile(layout.Run(m.abs(j.Dir)).Path(layout.StdoutFile))
	if err != nil {
		return err
	}
	var out scoreOutput
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("score output: %w", err)
	}
	ups, err := m.st.Uploads(ctx, store.UploadFilter{IDs: p.Uploads})
	if err != nil {
		return err
	}
	byPath := map[string]int64{}
	for _, u := range ups {
		byPath[m.abs(u.Path)] = u.ID
	}
	var rows []store.ScoreRow
	for _, s := range out.Scores {
		if id, ok := byPath[s.File]; ok {
			rows = append(rows, store.ScoreRow{Upload: id, LensProb: s.LensProb})
		}
	}
	return m.st.PutScores(ctx, p.Checkpoint, rows)
}
