package shared

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RunKind is what a run does; each kind runs one sslens subcommand.
type RunKind string

const (
	KindSimulate   RunKind = "simulate"     // sslens simulate: build a dataset
	KindPretrain   RunKind = "pretrain"     // sslens pretrain: DINO, iBOT or SimSiam pretraining
	KindFinetune   RunKind = "finetune"     // sslens finetune: supervised or fine-tuned classifier
	KindReproduce  RunKind = "reproduce"    // sslens reproduce: the reference project's tables
	KindScore      RunKind = "score-batch"  // sslens score: score uploads with a checkpoint
	KindImport     RunKind = "import"       // sslens import-weights: a public pretrained backbone as a checkpoint
	KindSurvey     RunKind = "score-survey" // sslens score --out: a server-side folder, list or glob of cutouts ranked into a catalogue
	KindImportData RunKind = "import-data"  // sslens import-data: survey cutouts on the server as a dataset
)

// RunKinds lists every kind.
var RunKinds = []RunKind{KindSimulate, KindPretrain, KindFinetune, KindReproduce, KindScore, KindImport, KindSurvey, KindImportData}

// RunState is where a run is in its life:
//
//	queued -> running -> succeeded | failed | cancelled | interrupted
//	interrupted or cancelled -> queued (resume, when Run.Resumable)
type RunState string

const (
	StateQueued      RunState = "queued"
	StateRunning     RunState = "running"
	StateSucceeded   RunState = "succeeded"
	StateFailed      RunState = "failed"
	StateCancelled   RunState = "cancelled"   // stopped on request; its last checkpoint is kept
	StateInterrupted RunState = "interrupted" // the server stopped or died while it ran
)

// RunStates lists every state.
var RunStates = []RunState{StateQueued, StateRunning, StateSucceeded, StateFailed, StateCancelled, StateInterrupted}

// Final reports whether s is an end state (nothing runs any more).
func (s RunState) Final() bool {
	return s != StateQueued && s != StateRunning
}

// Progress is how far a run has come: Done of Total units (images for
// simulate, files for score-survey, optimiser steps for training).
type Progress struct {
	Done        int64   `json:"done"`
	Total       int64   `json:"total"`
	Unit        string  `json:"unit"` // "images", "files" or "steps"
	Epoch       int     `json:"epoch,omitempty"`
	TotalEpochs int     `json:"total_epochs,omitempty"`
	Fraction    float64 `json:"fraction"` // Done / Total, 0 when Total is 0
	// Rate (units per second) and SecondsLeft at that rate, where the run
	// reports them (score-survey).
	Rate        float64 `json:"rate,omitempty"`
	SecondsLeft float64 `json:"seconds_left,omitempty"`
}

// Run is one job of the queue and its run folder.
type Run struct {
	ID        int64    `json:"id"`
	Kind      RunKind  `json:"kind"`
	Name      string   `json:"name"`
	State     RunState `json:"state"`
	Dataset   int64    `json:"dataset,omitempty"`
	CreatedBy string   `json:"created_by"`
	// After is a run this one waits for; it fails if that one does not succeed.
	After int64 `json:"after,omitempty"`
	// Config is the YAML the run trains with (finetune, pretrain); Args
	// are the subcommand's arguments as run (informational).
	Config   string      `json:"config,omitempty"`
	Args     []string    `json:"args,omitempty"`
	Dir      string      `json:"dir"` // run folder, relative to the data folder
	Created  time.Time   `json:"created"`
	Started  *time.Time  `json:"started,omitempty"`
	Finished *time.Time  `json:"finished,omitempty"`
	Host     string      `json:"host,omitempty"`   // where it runs or ran
	Device   string      `json:"device,omitempty"` // the GPU it trains on (cuda:N); empty on the CPU
	Handle   string      `json:"handle,omitempty"` // the process or cluster job running it, e.g. "pid 4242"
	Error    string      `json:"error,omitempty"`  // why it failed
	Progress *Progress   `json:"progress,omitempty"`
	Cluster  *ClusterJob `json:"cluster,omitempty"` // a cluster job's latest state, where it runs on one
	// LastSeq is the seq of the run's newest event (see Event).
	LastSeq int64 `json:"last_seq"`
	// Resumable is true when resume may continue the run from a checkpoint.
	Resumable bool `json:"resumable"`
}

// CreateRunRequest is the body of POST /api/runs (admins). Config (YAML)
// or Template (a ConfigTemplate name) gives the experiment for pretrain
// and finetune, and the reproduce config for reproduce (optional there); Dataset the data to train on (default: the default
// dataset); Checkpoint a checkpoint to fine-tune from (kind finetune, when
// the config is a finetune config); After a run to wait for (this one
// starts when that one succeeds and fails if it does not); Import the
// weights to import (kind import, which takes no config or dataset).
// Config errors come back as 422 with one FieldError per key.
type CreateRunRequest struct {
	Kind       RunKind        `json:"kind"`
	Name       string         `json:"name,omitempty"`
	Template   string         `json:"template,omitempty"`
	Config     string         `json:"config,omitempty"`
	Dataset    int64          `json:"dataset,omitempty"`
	Checkpoint int64          `json:"checkpoint,omitempty"`
	After      int64          `json:"after,omitempty"`
	Import     *ImportRequest `json:"import,omitempty"`
	Survey     *SurveyRequest `json:"survey,omitempty"`
}

// ImportRequest is what a run of kind import reads: a weights file an
// operator placed under the data folder, and the import's choices (see
// sslens import-weights). Its errors come back keyed "import.source",
// "import.heads" and "import.from".
type ImportRequest struct {
	// Source is the safetensors or PyTorch file, relative to the data
	// folder, e.g. "weights/dino_deitsmall8_pretrain.pth".
	Source string `json:"source"`
	Heads  int    `json:"heads,omitempty"` // attention heads; 0: the importer's rule (width / 64)
	From   string `json:"from,omitempty"`  // "teacher" (default) or "student" of a DINO or iBOT checkpoint
	// KeepChannels gives the bands g, r, i to the input channels in stored
	// order instead of i, r, g onto R, G, B.
	KeepChannels bool `json:"keep_channels,omitempty"`
}

// CheckSource checks the form of Source: a path relative to the data
// folder that cannot climb out of it (not absolute, no ".." element).
// Whether the file is there is the server's to say.
func (r ImportRequest) CheckSource() error {
	if strings.TrimSpace(r.Source) == "" {
		return errors.New("give the weights file's path in the data folder, e.g. weights/dino_deitsmall8_pretrain.pth")
	}
	return CheckPath(r.Source)
}

// SurveyRequest is what a score-survey run scores with its Checkpoint
// (a classifier): cutouts already on the server, named relative to the
// data folder. Its errors come back keyed "survey.paths", "survey.lists"
// and "survey.shards".
type SurveyRequest struct {
	// Paths are folders (walked recursively), cutout files and globs
	// ("hsc/*/*.fits").
	Paths []string `json:"paths,omitempty"`
	// Lists are files of cutout paths, one per line; relative paths in
	// them are taken from the list's own folder.
	Lists []string `json:"lists,omitempty"`
	// Shards splits the inputs over that many cluster jobs, merged into
	// one catalogue at the end (a server running jobs on Slurm); 0 or 1:
	// one job.
	Shards int `json:"shards,omitempty"`
	// Device is cpu (the default) or cuda: score on one of the server's
	// GPUs (sslens serve --gpus), each shard on its own where sharded.
	Device string `json:"device,omitempty"`
}

// CheckPath checks the form of a path relative to the data folder: not
// absolute and no ".." element, so that it cannot climb out of the
// folder. Whether it exists is the server's to say.
func CheckPath(p string) error {
	parts := strings.FieldsFunc(p, func(c rune) bool { return c == '/' || c == '\\' })
	switch {
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':'):
		return fmt.Errorf("%s is an absolute path: give one relative to the data folder", p)
	case slices.Contains(parts, ".."):
		return fmt.Errorf(`%s contains "..": give a path inside the data folder`, p)
	}
	return nil
}

// ConfigTemplate is one of the configs shipped with sslens (configs/).
type ConfigTemplate struct {
	Name     string  `json:"name"`     // path under configs/ without .yaml: "supervised-vit-nano", "reference/dino-vit-small"
	Method   string  `json:"method"`   // experiment.ssl_training, or "reproduce"
	Backbone string  `json:"backbone"` // network.backbone (reproduce: its backbones, comma-separated)
	Kind     RunKind `json:"kind"`     // the run kind that runs it: pretrain, finetune or reproduce
	YAML     string  `json:"yaml"`
}

// ValidateConfigRequest is the body of POST /api/configs/validate.
type ValidateConfigRequest struct {
	Config string `json:"config"`
}

// ValidateConfigResponse answers it: OK with no Errors, or one error per
// key (a config stops at its first invalid key, so at most one today).
// Warnings name keys that are unknown or ignored.
type ValidateConfigResponse struct {
	OK       bool            `json:"ok"`
	Method   string          `json:"method,omitempty"`
	Kind     RunKind         `json:"kind,omitempty"`
	Errors   []FieldError    `json:"errors,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Memory   *MemoryEstimate `json:"memory,omitempty"` // pretraining and classifier configs
}

// MemoryEstimate is a training step's planned memory: its backbone runs
// over Chunk of the Batch images at a time, and its peak is about Bytes.
// Budget is what the server lets a job take (0: no limit).
type MemoryEstimate struct {
	Bytes  int64 `json:"bytes"`
	Chunk  int   `json:"chunk"`
	Batch  int   `json:"batch"`
	Budget int64 `json:"budget,omitempty"`
}

// Checkpoint is a saved model of a run (checkpoints/last or best).
type Checkpoint struct {
	ID         int64              `json:"id"`
	Run        int64              `json:"run"`
	RunName    string             `json:"run_name"`
	Name       string             `json:"name"`       // last or best
	Preset     string             `json:"preset"`     // vit_nano, vit_tiny, ...
	Classifier bool               `json:"classifier"` // has a lens/non-lens head: can score
	Epoch      int                `json:"epoch"`
	Step       int                `json:"step"`
	Metrics    map[string]float64 `json:"metrics,omitempty"` // e.g. val_auc
	SHA256     string             `json:"sha256"`
	Created    time.Time          `json:"created"`
}

// MetricKind says what a Metric reports.
type MetricKind string

const (
	MetricStep    MetricKind = "step"    // one optimiser step
	MetricEpoch   MetricKind = "epoch"   // the end of an epoch
	MetricEval    MetricKind = "eval"    // a split evaluated (val per epoch; val and test at the end)
	MetricLog     MetricKind = "log"     // a message: setup, checkpoint saved, stop, resume
	MetricWarning MetricKind = "warning" // e.g. an ignored config key
)

// Metric is one line of a run's metrics.jsonl: the training code writes
// it (through backend/layout) and the portal streams it as it is. Seq numbers
// the records of the run from 1 across resumes: a resumed run rewrites
// the records after its last checkpoint, so a Metric whose Seq is not above
// the last one seen replaces it and everything after it. Epochs count from
// 1; Step is the number of optimiser steps done.
type Metric struct {
	Seq         int        `json:"seq"`
	Kind        MetricKind `json:"kind"`
	Time        time.Time  `json:"time"`
	Epoch       int        `json:"epoch"`
	Step        int        `json:"step"`
	TotalEpochs int        `json:"total_epochs,omitempty"`
	TotalSteps  int        `json:"total_steps,omitempty"`

	Loss         *float64 `json:"loss,omitempty"`
	LR           *float64 `json:"lr,omitempty"`
	Accuracy     *float64 `json:"accuracy,omitempty"` // fraction
	AUC          *float64 `json:"auc,omitempty"`
	ImagesPerSec *float64 `json:"images_per_sec,omitempty"`
	Seconds      *float64 `json:"seconds,omitempty"`

	Split      string `json:"split,omitempty"`      // eval: val or test
	Model      string `json:"model,omitempty"`      // final eval: last or best
	Message    string `json:"message,omitempty"`    // log, warning
	Checkpoint string `json:"checkpoint,omitempty"` // log: run-relative folder of a checkpoint just written
}

// LogLine is one line a run's process wrote to its standard output or
// error (progress bars excluded).
type LogLine struct {
	Stream string `json:"stream"` // stdout or stderr
	Text   string `json:"text"`
}

// Catalogue is a score-survey run's output so far: the files it wrote,
// each downloaded from /api/runs/{id}/catalogue/{name}, and the head of
// its ranking once it has one.
type Catalogue struct {
	Files []CatalogueFile `json:"files"`
	Top   []RankedCutout  `json:"top"`
}

// CatalogueFile is one file of a Catalogue.
type CatalogueFile struct {
	Name  string `json:"name"` // ranked.csv, ranked.fits, scores.csv
	Bytes int64  `json:"bytes"`
}

// RankedCutout is one row of a ranking: Rank 1 has the highest P(lens).
// File is relative to the data folder where it lies inside it; RA and Dec
// (degrees, ICRS) are absent for a cutout that gives no position.
type RankedCutout struct {
	Rank     int64    `json:"rank"`
	File     string   `json:"file"`
	LensProb float64  `json:"lens_prob"`
	RA       *float64 `json:"ra,omitempty"`
	Dec      *float64 `json:"dec,omitempty"`
}
