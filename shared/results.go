package shared

import "time"

// Interval is a 95% bootstrap confidence interval.
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// ROCPoint is one point of a ROC curve, lens positive.
type ROCPoint struct {
	FPR       float64 `json:"fpr"`
	TPR       float64 `json:"tpr"`
	Threshold float64 `json:"threshold"`
}

// ResultRow is the test-split evaluation of one model (the last or best
// epoch) of one finished classifier run, from its report.json.
type ResultRow struct {
	Run         int64  `json:"run"`
	RunName     string `json:"run_name"`
	Method      string `json:"method"`             // supervised, finetune
	Pretrain    string `json:"pretrain,omitempty"` // the method of the pretrained backbone, when known
	Backbone    string `json:"backbone"`           // vit_nano, vit_tiny, ...
	Labels      string `json:"labels"`             // 300, 600, 1200, all
	TrainImages int    `json:"train_images"`
	LinearProbe bool   `json:"linear_probe"`
	Model       string `json:"model"` // last or best
	Epoch       int    `json:"epoch"`
	Checkpoint  int64  `json:"checkpoint,omitempty"` // its Checkpoint.ID, when stored

	N          int        `json:"n"` // test images
	Accuracy   float64    `json:"accuracy"`
	AccuracyCI *Interval  `json:"accuracy_ci,omitempty"`
	AUC        float64    `json:"auc"`
	AUCCI      *Interval  `json:"auc_ci,omitempty"`
	TPRAt1     float64    `json:"tpr_at_fpr_1pct"`
	TPRAt01    float64    `json:"tpr_at_fpr_0_1pct"`
	TPR0       float64    `json:"tpr0"`
	ROC        []ROCPoint `json:"roc,omitempty"` // only with ?roc=1 or from /api/results/{run}
}

// Results answers GET /api/results: the classifier runs, the finished
// reproductions and the reference project's published numbers.
type Results struct {
	Rows          []ResultRow    `json:"rows"`
	Reproductions []Reproduction `json:"reproductions"`
	Reference     *Reference     `json:"reference,omitempty"`
}

// Reference is the reference project's published test results, with
// where they come from and the caveat every display of them carries.
type Reference struct {
	Source string         `json:"source"`
	Caveat string         `json:"caveat"`
	Rows   []ReferenceRow `json:"rows"`
}

// ReferenceRow is one published test result.
type ReferenceRow struct {
	Method   string  `json:"method"`
	Backbone string  `json:"backbone"` // sslens's preset name: vit_small, vit_base
	Labels   int     `json:"labels"`   // labelled training images; above 1200 is the full train split
	Accuracy float64 `json:"accuracy"` // fraction
	AUC      float64 `json:"auc"`
}

// Reproduction is one finished reproduce run's results.json: per method,
// backbone and label count the test accuracy and AUC over the seeds, and
// each SSL method set against supervised training. Accuracies are
// fractions; intervals are 95% bootstrap intervals over the test images.
type Reproduction struct {
	Run       int64     `json:"run"`
	RunName   string    `json:"run_name"`
	Name      string    `json:"name"` // the reproduce config's
	Created   time.Time `json:"created"`
	Test      TestSplit `json:"test"`
	Bootstrap int       `json:"bootstrap"` // resamples per interval
	Backbones []string  `json:"backbones"`
	Methods   []string  `json:"methods"`
	Labels    []string  `json:"labels"` // 300, 600, 1200, all
	Seeds     []uint64  `json:"seeds"`

	Rows        []ReproduceRow `json:"rows"`
	Comparisons []Comparison   `json:"comparisons"`
}

// TestSplit counts the images every classifier of a reproduction was
// tested on.
type TestSplit struct {
	Images    int `json:"images"`
	Lenses    int `json:"lenses"`
	NonLenses int `json:"non_lenses"`
}

// ReproduceRow is one method, backbone and label count over its seeds.
// ROC holds the first seed's test ROC curve, when its report is at hand.
type ReproduceRow struct {
	Method      string          `json:"method"`
	Backbone    string          `json:"backbone"`
	Labels      string          `json:"labels"`
	TrainImages int             `json:"train_images"`
	Accuracy    Spread          `json:"accuracy"`
	AUC         Spread          `json:"auc"`
	Seeds       []ReproduceSeed `json:"seeds"`
	ROC         []ROCPoint      `json:"roc,omitempty"`
}

// Spread summarises a test metric over a row's seeds; CI is the interval
// of the mean over seeds.
type Spread struct {
	Mean float64  `json:"mean"`
	Std  float64  `json:"std"` // sample standard deviation; 0 with one seed
	Min  float64  `json:"min"`
	Max  float64  `json:"max"`
	CI   Interval `json:"ci"`
}

// ReproduceSeed is one seed's classifier of a reproduce row.
type ReproduceSeed struct {
	Seed       uint64    `json:"seed"`
	Accuracy   float64   `json:"accuracy"`
	AccuracyCI *Interval `json:"accuracy_ci,omitempty"`
	AUC        float64   `json:"auc"`
	AUCCI      *Interval `json:"auc_ci,omitempty"`
}

// Verdict reads the paired AUC interval of an SSL method minus supervised
// training.
type Verdict string

const (
	VerdictBetter           Verdict = "better"            // the interval lies above 0
	VerdictWorse            Verdict = "worse"             // the interval lies below 0
	VerdictNotDistinguished Verdict = "not distinguished" // the interval holds 0
)

// Comparison sets an SSL method against supervised training at one
// backbone and label count: seed-paired bootstrap differences, method
// minus supervised, on the same test images, at the Bonferroni level of
// the table's comparisons.
type Comparison struct {
	Backbone     string  `json:"backbone"`
	Labels       string  `json:"labels"`
	Method       string  `json:"method"`
	AUCDiff      Diff    `json:"auc_diff"`
	AccuracyDiff Diff    `json:"accuracy_diff"`
	Overlap      bool    `json:"auc_intervals_overlap"` // the two rows' AUC intervals overlap
	Best         bool    `json:"best"`                  // highest mean AUC of the SSL methods here
	Verdict      Verdict `json:"verdict"`
}

// Diff is a paired difference with its interval at Level (0.95: 95%).
type Diff struct {
	Diff  float64  `json:"diff"`
	CI    Interval `json:"ci"`
	Level float64  `json:"level,omitempty"` // absent from results made before levels were recorded
}
