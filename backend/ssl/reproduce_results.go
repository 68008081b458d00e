package ssl

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Names WriteResults gives its files.
const (
	ResultsJSON = "results.json"
	ResultsMD   = "results.md"
)

// resultsBootstrapSeed seeds the bootstrap draws of the results'
// intervals and comparisons, so that every row resamples the same images.
const resultsBootstrapSeed = 0

// ReproduceResults is a finished reproduction, as results.json holds it.
// Accuracies are fractions; every interval is a 95% percentile bootstrap
// interval over the test images (stratified resamples, Bootstrap of them).
// The model tested is each classifier's last epoch, the reference
// protocol's choice.
type ReproduceResults struct {
	Name          string            `json:"name"`
	Command       string            `json:"command,omitempty"`
	Created       time.Time         `json:"created"`
	Config        string            `json:"config"` // the reproduce config's YAML
	Data          string            `json:"data"`
	Test          TestSplit         `json:"test"`
	Bootstrap     int               `json:"bootstrap"`
	BootstrapSeed uint64            `json:"bootstrap_seed"`
	Backbones     []string          `json:"backbones"`
	Methods       []config.Method   `json:"methods"`
	Labels        []string          `json:"labels"`
	Seeds         []uint64          `json:"seeds"`
	Rows          []ResultRow       `json:"rows"`
	Comparisons   []Comparison      `json:"comparisons"`
	Pretraining   []PretrainResult  `json:"pretraining"`
	Plots         []ROCPlot         `json:"roc_plots"`
	WallSeconds   float64           `json:"wall_seconds"` // every cell's, summed
	Reference     *ReferenceResults `json:"reference,omitempty"`
}

// TestSplit describes the images every classifier was tested on.
type TestSplit struct {
	Images    int `json:"images"`
	Lenses    int `json:"lenses"`
	NonLenses int `json:"non_lenses"`
}

// ResultRow is one method, backbone and label count over its seeds.
type ResultRow struct {
	Method      config.Method `json:"method"`
	Backbone    string        `json:"backbone"`
	Labels      string        `json:"labels"`
	TrainImages int           `json:"train_images"`
	Accuracy    Spread        `json:"accuracy"`
	AUC         Spread        `json:"auc"`
	Seeds       []SeedResult  `json:"seeds"`

	scores [][]float64 // each seed's test scores, in the shared image order
}

// Spread summarises a test metric over a row's seeds. CI is the interval
// of the mean over seeds, each resample of the test images scoring every
// seed's model on the same images; with one seed it is that model's
// interval.
type Spread struct {
	Mean float64       `json:"mean"`
	Std  float64       `json:"std"` // sample standard deviation over seeds; 0 with one seed
	Min  float64       `json:"min"`
	Max  float64       `json:"max"`
	CI   eval.Interval `json:"ci"`
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

	roc []eval.ROCPoint
}

// Comparison sets an SSL method against supervised training at one
// backbone and label count, on the same test images: the paired bootstrap
// of the difference, method minus supervised.
type Comparison struct {
	Backbone string        `json:"backbone"`
	Labels   string        `json:"labels"`
	Method   config.Method `json:"method"`
	AUC      eval.Diff     `json:"auc_diff"`
	Accuracy eval.Diff     `json:"accuracy_diff"`
	// Overlap says whether the two rows' AUC intervals overlap: the
	// cruder test, which ignores that both saw the same images.
	Overlap bool `json:"auc_intervals_overlap"`
	// Best marks the SSL method with the highest mean test AUC here.
	Best    bool    `json:"best"`
	Verdict Verdict `json:"verdict"`
}

// Verdict reads a paired AUC interval.
type Verdict string

const (
	Better           Verdict = "better"            // the interval lies above 0
	Worse            Verdict = "worse"             // the interval lies below 0
	NotDistinguished Verdict = "not distinguished" // the interval holds 0
)

// PretrainResult is one pretraining cell.
type PretrainResult struct {
	Method      config.Method   `json:"method"`
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

// CollectResults reads the finished cells of a reproduction (cells as
// rc.Plan made them) and computes the rows, their intervals and the
// comparisons with supervised training.
func CollectResults(rc *ReproduceConfig, cells []*Cell, opt ReproduceOptions) (*ReproduceResults, error) {
	if len(cells) == 0 {
		return nil, fmt.Errorf("reproduce: no cells")
	}
	out := cells[0].outputDir()
	res := &ReproduceResults{
		Name: rc.Name, Command: opt.Command, Created: time.Now().UTC(), Config: string(rc.Text),
		Data: cells[0].Config.Input.DataPath, Bootstrap: rc.Bootstrap, BootstrapSeed: resultsBootstrapSeed,
		Backbones: rc.Backbones, Labels: rc.Labels, Seeds: rc.Seeds, Reference: opt.Reference,
	}
	for _, m := range reproduceMethods {
		if slices.Contains(rc.Methods, m) {
			res.Methods = append(res.Methods, m)
		}
	}
	var names []string // the test images, in the order every cell must share
	var labels []int   // and their labels
	rows := map[string]*ResultRow{}
	for _, c := range cells {
		secs, err := cellSeconds(c)
		if err != nil {
			return nil, err
		}
		res.WallSeconds += secs
		run, err := filepath.Rel(out, c.Dir)
		if err != nil {
			return nil, fmt.Errorf("reproduce: %w", err)
		}
		cfgJSON, err := configJSON(c.Config)
		if err != nil {
			return nil, err
		}
		if c.Kind == CellPretrain {
			res.Pretraining = append(res.Pretraining, PretrainResult{Method: c.Method, Backbone: c.Backbone, Seed: c.Seed,
				Epochs: c.Config.Train.Epochs, WallSeconds: secs, Run: run, Config: cfgJSON})
			continue
		}
		rep, err := readReport(c.Dir)
		if err != nil {
			return nil, err
		}
		sc, err := readScores(c.Dir)
		if err != nil {
			return nil, err
		}
		if names == nil {
			names, labels = sc.Names, sc.Labels
			t := rep.Last.Test
			res.Test = TestSplit{Images: t.N, Lenses: t.Lenses, NonLenses: t.NonLenses}
		} else if !slices.Equal(names, sc.Names) || !slices.Equal(labels, sc.Labels) {
			return nil, fmt.Errorf("reproduce: %s was tested on other images than %s", c.Dir, cells[0].Dir)
		}
		key := rowKey(c.Method, c.Backbone, c.Labels)
		row := rows[key]
		if row == nil {
			row = &ResultRow{Method: c.Method, Backbone: c.Backbone, Labels: c.Labels, TrainImages: rep.TrainImages}
			rows[key] = row
		}
		t := rep.Last.Test
		row.Seeds = append(row.Seeds, SeedResult{Seed: c.Seed, Run: run, Epochs: rep.Epochs, WallSeconds: secs,
			Accuracy: t.Accuracy, AccuracyCI: t.AccuracyCI, AUC: t.AUC, AUCCI: t.AUCCI, TPRAt1: t.TPRAt1, TPR0: t.TPR0,
			Config: cfgJSON, roc: t.ROC})
		row.scores = append(row.scores, sc.Scores)
	}
	acc := func(p []float64, l []int) (float64, error) { return eval.Accuracy(p, l, 0.5) }
	for _, b := range res.Backbones {
		for _, l := range res.Labels {
			for _, m := range res.Methods {
				row := rows[rowKey(m, b, l)]
				if row == nil {
					return nil, fmt.Errorf("reproduce: no cell of %s %s %s labels", m, b, l)
				}
				var err error
				if row.Accuracy, err = spread(row, labels, rc.Bootstrap, acc, func(s SeedResult) float64 { return s.Accuracy }); err != nil {
					return nil, err
				}
				if row.AUC, err = spread(row, labels, rc.Bootstrap, eval.AUC, func(s SeedResult) float64 { return s.AUC }); err != nil {
					return nil, err
				}
				res.Rows = append(res.Rows, *row)
			}
			cmps, err := compare(rows, b, l, res.Methods, labels, rc.Bootstrap, acc)
			if err != nil {
				return nil, err
			}
			res.Comparisons = append(res.Comparisons, cmps...)
			res.Plots = append(res.Plots, ROCPlot{Backbone: b, Labels: l, File: fmt.Sprintf("roc-%s-%s.png", b, l)})
		}
	}
	return res, nil
}

func rowKey(m config.Method, backbone, labels string) string {
	return string(m) + "/" + backbone + "/" + labels
}

// spread summarises one metric of a row's seeds.
func spread(row *ResultRow, labels []int, resamples int, stat eval.Stat, metric func(SeedResult) float64) (Spread, error) {
	s := Spread{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, sr := range row.Seeds {
		v := metric(sr)
		s.Mean += v / float64(len(row.Seeds))
		s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	}
	if n := len(row.Seeds); n > 1 {
		for _, sr := range row.Seeds {
			d := metric(sr) - s.Mean
			s.Std += d * d / float64(n-1)
		}
		s.Std = math.Sqrt(s.Std)
	}
	var err error
	s.CI, err = eval.MeanInterval(row.scores, labels, resamples, resultsBootstrapSeed, stat)
	if err != nil {
		return Spread{}, fmt.Errorf("reproduce: %s %s %s labels: %w", row.Method, row.Backbone, row.Labels, err)
	}
	return s, nil
}

// compare sets each SSL method against supervised at backbone b and
// label count l; nothing when supervised is not in the matrix.
func compare(rows map[string]*ResultRow, b, l string, methods []config.Method, labels []int, resamples int, acc eval.Stat) ([]Comparison, error) {
	sup := rows[rowKey(config.Supervised, b, l)]
	if sup == nil {
		return nil, nil
	}
	var out []Comparison
	best := -1
	for _, m := range methods {
		row := rows[rowKey(m, b, l)]
		if m == config.Supervised {
			continue
		}
		c := Comparison{Backbone: b, Labels: l, Method: m,
			Overlap: row.AUC.CI.Lo <= sup.AUC.CI.Hi && sup.AUC.CI.Lo <= row.AUC.CI.Hi}
		var err error
		if c.AUC, err = eval.PairedBootstrap(row.scores, sup.scores, labels, resamples, resultsBootstrapSeed, eval.AUC); err != nil {
			return nil, fmt.Errorf("reproduce: %s against supervised, %s %s labels: %w", m, b, l, err)
		}
		if c.Accuracy, err = eval.PairedBootstrap(row.scores, sup.scores, labels, resamples, resultsBootstrapSeed, acc); err != nil {
			return nil, fmt.Errorf("reproduce: %s against supervised, %s %s labels: %w", m, b, l, err)
		}
		switch {
		case c.AUC.CI.Lo > 0:
			c.Verdict = Better
		case c.AUC.CI.Hi < 0:
			c.Verdict = Worse
		default:
			c.Verdict = NotDistinguished
		}
		if best < 0 || row.AUC.Mean > rows[rowKey(out[best].Method, b, l)].AUC.Mean {
			best = len(out)
		}
		out = append(out, c)
	}
	if best >= 0 {
		out[best].Best = true
	}
	return out, nil
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
	Method   config.Method `json:"method"`
	Backbone string        `json:"backbone"` // vit preset name
	Labels   int           `json:"labels"`   // labelled training images
	Accuracy float64       `json:"accuracy"` // fraction
	AUC      float64       `json:"auc"`
}

// referenceColumns are the columns seed-results.json lists its rows in.
var referenceColumns = []string{"method", "backbone", "labels", "accuracy_percent", "auc"}

// ParseReference reads seed-results.json: source, caveat, the column
// names (method, backbone, labels, accuracy_percent, auc) and one array
// per row.
func ParseReference(b []byte) (*ReferenceResults, error) {
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
		if !slices.Contains(reproduceMethods, config.Method(method)) {
			return nil, fmt.Errorf("reference results: rows[%d]: method %q is not one of %s", i, method, strings.Join(methodStrings(reproduceMethods), ", "))
		}
		p, err := vit.LookupPreset(backbone)
		if err != nil {
			return nil, fmt.Errorf("reference results: rows[%d]: %w", i, err)
		}
		ref.Rows = append(ref.Rows, ReferenceRow{Method: config.Method(method), Backbone: p.Name, Labels: int(labels),
			Accuracy: accPct / 100, AUC: auc})
	}
	return ref, nil
}

// forLabels returns the reference row of method and backbone at a label
// count: the number itself, or for all the full train split (any count
// above 1200).
func (r *ReferenceResults) forLabels(m config.Method, backbone, labels string) (ReferenceRow, bool) {
	for _, row := range r.Rows {
		if row.Method != m || row.Backbone != backbone {
			continue
		}
		if n, err := strconv.Atoi(labels); (err == nil && row.Labels == n) || (labels == "all" && row.Labels > 1200) {
			return row, true
		}
	}
	return ReferenceRow{}, false
}

// backbones lists the reference's backbones in their first appearance's
// order.
func (r *ReferenceResults) backbones() []string {
	var out []string
	for _, row := range r.Rows {
		if !slices.Contains(out, row.Backbone) {
			out = append(out, row.Backbone)
		}
	}
	return out
}
