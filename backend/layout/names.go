package layout

import (
	"os"
	"path/filepath"

	"github.com/sslens/sslens/backend/nn/ckpt"
)

// Names inside a run folder. Checkpoint folders are run-relative with a
// forward slash, as metrics records and reports name them.
const (
	// SubmittedConfig is the config as the portal submitted it; the
	// command writes ResolvedConfig (every default filled in) beside it.
	SubmittedConfig    = "config.yaml"
	ResolvedConfig     = "config.resolved.yaml"
	MetricsFile        = "metrics.jsonl"
	SubsetFile         = "train_subset.json" // the labelled train subset a classifier used
	CheckpointsDir     = "checkpoints"
	LastDir            = "checkpoints/last" // the newest checkpoint, which resumes the run
	BestDir            = "checkpoints/best" // the epoch with the best validation AUC
	ModelFile          = "model.safetensors"
	StudentFile        = "student.safetensors" // a DINO/iBOT checkpoint's student backbone, beside the teacher's model file
	StateFile          = ckpt.StateFile        // the optimiser state beside a checkpoint's model
	ReportJSON         = "report.json"
	ReportMD           = "report.md"
	PretrainReportJSON = "pretrain_report.json" // a finished pretraining run
	PretrainReportMD   = "pretrain_report.md"
	ScoresFile         = "test_scores.json" // a reproduce cell's test scores (last epoch)
	StdoutFile         = "stdout.log"       // the command's standard output, kept by the job runner
	StderrFile         = "stderr.log"
)

// CheckpointNames are the checkpoint folders a training run keeps, below
// CheckpointsDir.
var CheckpointNames = []string{"last", "best"}

// TrainingOutputs are the files and folders a training command writes in
// its run folder: a fresh start removes exactly these.
var TrainingOutputs = []string{MetricsFile, ResolvedConfig, CheckpointsDir, ReportJSON, ReportMD, SubsetFile}

// Names inside a dataset folder.
const (
	LensDir          = "lenses"     // one image file per lens
	NonLensDir       = "nonlenses"  // one image file per non-lens
	UnlabelledDir    = "unlabelled" // one image file per cutout of unknown class (imported survey data)
	SplitsJSON       = "splits.json"
	SplitsPickle     = "indices.pkl" // the reference project's splits, read as they are
	MetadataCSV      = "metadata.csv"
	StatsFile        = ".sslens-stats.json"   // normalisation statistics cached beside the data
	ImportReportJSON = "import-report.json"   // what an import did, in full
	ImportReportText = "import-report.txt"    // the same, for reading
	ImportProgress   = "import-progress.json" // an import run's files so far, rewritten every few seconds
	ProvenanceFile   = "provenance.json"      // where a dataset's labels came from (a graded set's rule and grades), kept as given
	PreviewPNG       = "preview.png"
)

// DatasetFiles are the names a simulated dataset writes at its top level:
// rewriting one removes exactly these.
var DatasetFiles = []string{LensDir, NonLensDir, SplitsPickle, SplitsJSON, MetadataCSV}

// Run is a run folder's path.
type Run string

// Resumable says whether the run folder holds what a resume needs: the
// training state of checkpoints/last and the metrics stream it continues.
func (r Run) Resumable() bool { return IsFile(r.State(LastDir)) && IsFile(r.Path(MetricsFile)) }

// IsFile says whether path names a regular file.
func IsFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// Path joins a run-relative name (such as LastDir or ReportJSON) to the
// folder.
func (r Run) Path(name string) string { return filepath.Join(string(r), filepath.FromSlash(name)) }

// Model is the model file of a checkpoint folder (LastDir, BestDir).
func (r Run) Model(checkpoint string) string { return filepath.Join(r.Path(checkpoint), ModelFile) }

// Student is the student backbone file of a DINO or iBOT checkpoint folder.
func (r Run) Student(checkpoint string) string { return filepath.Join(r.Path(checkpoint), StudentFile) }

// State is the optimiser state file of a checkpoint folder.
func (r Run) State(checkpoint string) string { return filepath.Join(r.Path(checkpoint), StateFile) }

// Dataset is a dataset folder's path.
type Dataset string

// Path joins a dataset-relative name to the folder.
func (d Dataset) Path(name string) string { return filepath.Join(string(d), filepath.FromSlash(name)) }
