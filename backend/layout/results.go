package layout

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/shared"
)

// Names of a reproduction: its results folder holds ResultsJSON,
// ResultsMD and the ROC plots; each cell's run folder also gets CellFile
// (and a classifier's ScoresFile).
const (
	ResultsJSON = "results.json"
	ResultsMD   = "results.md"
	CellFile    = "cell.json" // wall time of the cell's sessions, and whether it finished
)

// ReproduceResults is a finished reproduction, as results.json holds it.
// Accuracies are fractions; every interval is a 95% percentile bootstrap
// interval over the test images (stratified resamples, Bootstrap of them).
// The model tested is each classifier's last epoch, the reference
// protocol's choice. Methods are supervised, dino, ibot or simsiam.
type ReproduceResults struct {
	Name          string           `json:"name"`
	Command       string           `json:"command,omitempty"`
	Created       time.Time        `json:"created"`
	Config        string           `json:"config"` // the reproduce config's YAML
	Data          string           `json:"data"`
	Test          shared.TestSplit `json:"test"`
	Bootstrap     int              `json:"bootstrap"`
	BootstrapSeed uint64           `json:"bootstrap_seed"`
	Backbones     []string         `json:"backbones"`
	Methods       []string         `json:"methods"`
	Labels        []string         `json:"labels"`
	Seeds         []uint64         `json:"seeds"`
	Rows          []ResultRow      `json:"rows"`
	Comparisons   []Comparison     `json:"comparisons"`
	// Deviations are the reproduce config's list of where its cells
	// differ from the reference project's protocol, and why.
	Deviations  []string          `json:"deviations,omitempty"`
	Pretraining []PretrainResult  `json:"pretraining"`
	Plots       []ROCPlot         `json:"roc_plots"`
	WallSeconds float64           `json:"wall_seconds"` // every cell's, summed
	Reference   *ReferenceResults `json:"reference,omitempty"`
}

// ResultRow is one method, backbone and label count over its seeds.
// Accuracy and AUC summarise the seeds' test metrics; their CI is the
// interval of the mean over seeds, each resample of the test images
// scoring every seed's model on the same images (with one seed, that
// model's interval).
type ResultRow struct {
	Method      string        `json:"method"`
	Backbone    string        `json:"backbone"`
	Labels      string        `json:"labels"`
	TrainImages int           `json:"train_images"`
	Accuracy    shared.Spread `json:"accuracy"`
	AUC         shared.Spread `json:"auc"`
	Seeds       []SeedResult  `json:"seeds"`
}

// SeedResult is one classifier cell: its test metrics from report.json
// (intervals drawn with the cell's seed), run folder and wall time.
type SeedResult struct {
	Seed        uint64          `json:"seed"`
	Run         string          `json:"run"` // relative to the output folder
	Epochs      int             `json:"epochs"`
	WallSeconds float64         `json:"wall_seconds"`
	Accuracy    float64         `json:"accuracy"`
	AccuracyCI  *eval.Interval  `json:"accuracy_ci,omitempty"`
	AUC         float64         `json:"auc"`
	AUCCI       *eval.Interval  `json:"auc_ci,omitempty"`
	TPRAt1      float64         `json:"tpr_at_fpr_1pct"`
	TPR0        float64         `json:"tpr0"`
	Config      json.RawMessage `json:"config"` // the cell's experiment config
}

// Comparison sets an SSL method against supervised training at one
// backbone and label count, on the same test images: the paired bootstrap
// of the difference, method minus supervised.
type Comparison struct {
	Backbone string `json:"backbone"`
	Labels   string `json:"labels"`
	Method   string `json:"method"`
	// AUC and Accuracy are seed-paired bootstrap differences (eval.
	// SeedPairedBootstrap: seeds and test images resampled) at the
	// family-wise level of Family comparisons (Bonferroni: each at
	// 1 - 0.05/Family), so that all of a table's verdicts hold together
	// with 95% confidence.
	AUC      eval.Diff `json:"auc_diff"`
	Accuracy eval.Diff `json:"accuracy_diff"`
	Family   int       `json:"family"`
	// SeedAUCDiffs is each seed's test AUC difference, in the order of
	// the results' seeds.
	SeedAUCDiffs []float64 `json:"seed_auc_diffs"`
	// Overlap says whether the two rows' AUC intervals overlap: the
	// cruder test, which ignores that both saw the same images.
	Overlap bool `json:"auc_intervals_overlap"`
	// Best marks the SSL method with the highest mean test AUC here.
	Best    bool           `json:"best"`
	Verdict shared.Verdict `json:"verdict"` // read off the AUC interval
}

// PretrainResult is one pretraining cell.
type PretrainResult struct {
	Method      string          `json:"method"`
	Backbone    string          `json:"backbone"`
	Seed        uint64          `json:"seed"`
	Epochs      int             `json:"epochs"`
	WallSeconds float64         `json:"wall_seconds"`
	Run         string          `json:"run"`
	Config      json.RawMessage `json:"config"`
}

// ROCPlot names the PNG of one backbone and label count.
type ROCPlot struct {
	Backbone string `json:"backbone"`
	Labels   string `json:"labels"`
	File     string `json:"file"` // relative to the results folder
}

// Row returns the row of method, backbone and labels; nil when there is
// none.
func (r *ReproduceResults) Row(method, backbone, labels string) *ResultRow {
	for i := range r.Rows {
		if row := &r.Rows[i]; row.Method == method && row.Backbone == backbone && row.Labels == labels {
			return row
		}
	}
	return nil
}

// WriteResults writes res as dir's results.json, atomically.
func WriteResults(dir string, res *ReproduceResults) error {
	path := filepath.Join(dir, ResultsJSON)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// ReadResults reads dir's results.json; a missing file is an error
// wrapping fs.ErrNotExist.
func ReadResults(dir string) (*ReproduceResults, error) {
	path := filepath.Join(dir, ResultsJSON)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res ReproduceResults
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}

// ReferenceResults are published results shown beside a reproduction's:
// the reference project's, from configs/reference/seed-results.json.
type ReferenceResults struct {
	Source string         `json:"source"`
	Caveat string         `json:"caveat"`
	Rows   []ReferenceRow `json:"rows"`
}

// ReferenceRow is one published test result.
type ReferenceRow struct {
	Method   string  `json:"method"`
	Backbone string  `json:"backbone"` // vit preset name once checked (config.ParseReference)
	Labels   int     `json:"labels"`   // labelled training images
	Accuracy float64 `json:"accuracy"` // fraction
	AUC      float64 `json:"auc"`
}

// referenceColumns are the columns seed-results.json lists its rows in.
var referenceColumns = []string{"method", "backbone", "labels", "accuracy_percent", "auc"}

// DecodeReference decodes seed-results.json: source, caveat, the column
// names (method, backbone, labels, accuracy_percent, auc) and one array
// per row. Method and backbone names are kept as written;
// config.ParseReference checks them.
func DecodeReference(b []byte) (*ReferenceResults, error) {
	var raw struct {
		Source  string   `json:"source"`
		Caveat  string   `json:"caveat"`
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("reference results: %w", err)
	}
	if !slices.Equal(raw.Columns, referenceColumns) {
		return nil, fmt.Errorf("reference results: columns %q, want %q", raw.Columns, referenceColumns)
	}
	ref := &ReferenceResults{Source: raw.Source, Caveat: raw.Caveat}
	for i, r := range raw.Rows {
		if len(r) != len(referenceColumns) {
			return nil, fmt.Errorf("reference results: rows[%d]: %d values, want %d", i, len(r), len(referenceColumns))
		}
		method, ok1 := r[0].(string)
		backbone, ok2 := r[1].(string)
		labels, ok3 := r[2].(float64)
		accPct, ok4 := r[3].(float64)
		auc, ok5 := r[4].(float64)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || labels != math.Trunc(labels) {
			return nil, fmt.Errorf("reference results: rows[%d]: %v: want [method, backbone, integer labels, accuracy percent, auc]", i, r)
		}
		ref.Rows = append(ref.Rows, ReferenceRow{Method: method, Backbone: backbone, Labels: int(labels), Accuracy: accPct / 100, AUC: auc})
	}
	return ref, nil
}
