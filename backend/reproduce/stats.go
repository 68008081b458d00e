package reproduce

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/shared"
)

// bootstrapSeed seeds the bootstrap draws of the results' intervals and
// comparisons, so that every row resamples the same images.
const bootstrapSeed = 0

// collected is a reproduction's results with what results.json leaves
// out: each row's test scores per seed (for the statistics) and ROC
// curves (for the plots).
type collected struct {
	*layout.ReproduceResults
	rows map[string]*row // by rowKey
}

// row is a results row as it is being computed.
type row struct {
	layout.ResultRow
	scores [][]float64       // each seed's test scores, in the shared image order
	roc    [][]eval.ROCPoint // each seed's test ROC curve
}

func rowKey(method, backbone, labels string) string {
	return method + "/" + backbone + "/" + labels
}

// collect reads the finished cells of a reproduction (cells as Plan made
// them) and computes the rows, their intervals and the comparisons with
// supervised training.
func collect(rc *config.ReproduceConfig, cells []*Cell, opt Options) (*collected, error) {
	if len(cells) == 0 {
		return nil, fmt.Errorf("reproduce: no cells")
	}
	out := cells[0].OutputDir()
	res := &layout.ReproduceResults{
		Name: rc.Name, Command: opt.Command, Created: time.Now().UTC(), Config: string(rc.Text),
		Data: cells[0].Config.Input.DataPath, Bootstrap: rc.Bootstrap, BootstrapSeed: bootstrapSeed,
		Backbones: rc.Backbones, Labels: rc.Labels, Seeds: rc.Seeds, Reference: opt.Reference, Deviations: rc.Deviations,
	}
	for _, m := range config.ReproduceMethods {
		if slices.Contains(rc.Methods, m) {
			res.Methods = append(res.Methods, string(m))
		}
	}
	var names []string // the test images, in the order every cell must share
	var labels []int   // and their labels
	rows := map[string]*row{}
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
		cfgJSON, err := c.Config.JSON()
		if err != nil {
			return nil, err
		}
		if c.Kind == CellPretrain {
			res.Pretraining = append(res.Pretraining, layout.PretrainResult{Method: string(c.Method), Backbone: c.Backbone, Seed: c.Seed,
				Epochs: c.Config.Train.Epochs, WallSeconds: secs, Run: run, Config: cfgJSON})
			continue
		}
		rep, err := readReport(c)
		if err != nil {
			return nil, err
		}
		sc, err := readScores(c)
		if err != nil {
			return nil, err
		}
		t := rep.Last.Test
		if names == nil {
			names, labels = sc.Names, sc.Labels
			res.Test = shared.TestSplit{Images: t.N, Lenses: t.Lenses, NonLenses: t.NonLenses}
		} else if !slices.Equal(names, sc.Names) || !slices.Equal(labels, sc.Labels) {
			return nil, fmt.Errorf("reproduce: %s was tested on other images than %s", c.Dir, cells[0].Dir)
		}
		key := rowKey(string(c.Method), c.Backbone, c.Labels)
		r := rows[key]
		if r == nil {
			r = &row{ResultRow: layout.ResultRow{Method: string(c.Method), Backbone: c.Backbone, Labels: c.Labels, TrainImages: rep.TrainImages}}
			rows[key] = r
		}
		r.Seeds = append(r.Seeds, layout.SeedResult{Seed: c.Seed, Run: run, Epochs: rep.Epochs, WallSeconds: secs,
			Accuracy: t.Accuracy, AccuracyCI: t.AccuracyCI, AUC: t.AUC, AUCCI: t.AUCCI, TPRAt1: t.TPRAt1, TPR0: t.TPR0,
			Config: cfgJSON})
		r.scores = append(r.scores, sc.Scores)
		r.roc = append(r.roc, t.ROC)
	}
	acc := func(p []float64, l []int) (float64, error) { return eval.Accuracy(p, l, 0.5) }
	family := 0 // the comparisons with supervised the verdicts share their confidence among
	if slices.Contains(res.Methods, string(config.Supervised)) {
		family = len(res.Backbones) * len(res.Labels) * (len(res.Methods) - 1)
	}
	for _, b := range res.Backbones {
		for _, l := range res.Labels {
			for _, m := range res.Methods {
				r := rows[rowKey(m, b, l)]
				if r == nil {
					return nil, fmt.Errorf("reproduce: no cell of %s %s %s labels", m, b, l)
				}
				var err error
				if r.Accuracy, err = spread(r, labels, rc.Bootstrap, acc, func(s layout.SeedResult) float64 { return s.Accuracy }); err != nil {
					return nil, err
				}
				if r.AUC, err = spread(r, labels, rc.Bootstrap, eval.AUC, func(s layout.SeedResult) float64 { return s.AUC }); err != nil {
					return nil, err
				}
				res.Rows = append(res.Rows, r.ResultRow)
			}
			cmps, err := compare(rows, b, l, res.Methods, labels, family, rc.Bootstrap, acc)
			if err != nil {
				return nil, err
			}
			res.Comparisons = append(res.Comparisons, cmps...)
			res.Plots = append(res.Plots, layout.ROCPlot{Backbone: b, Labels: l, File: fmt.Sprintf("roc-%s-%s.png", b, l)})
		}
	}
	return &collected{ReproduceResults: res, rows: rows}, nil
}

// spread summarises one metric of a row's seeds.
func spread(r *row, labels []int, resamples int, stat eval.Stat, metric func(layout.SeedResult) float64) (shared.Spread, error) {
	s := shared.Spread{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, sr := range r.Seeds {
		v := metric(sr)
		s.Mean += v / float64(len(r.Seeds))
		s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	}
	if n := len(r.Seeds); n > 1 {
		for _, sr := range r.Seeds {
			d := metric(sr) - s.Mean
			s.Std += d * d / float64(n-1)
		}
		s.Std = math.Sqrt(s.Std)
	}
	ci, err := eval.MeanInterval(r.scores, labels, resamples, bootstrapSeed, stat)
	if err != nil {
		return shared.Spread{}, fmt.Errorf("reproduce: %s %s %s labels: %w", r.Method, r.Backbone, r.Labels, err)
	}
	s.CI = shared.Interval(ci)
	return s, nil
}

// familyConfidence is the confidence all of a table's verdicts hold with
// together: each comparison's interval is at 1 - (1 - familyConfidence)/
// family (Bonferroni).
const familyConfidence = 0.95

// minTailResamples is the number of resamples each tail of a comparison's
// interval rests on at least: the stricter the level, the more resamples.
const minTailResamples = 20

// verdictResamples is the number of resamples behind an interval at
// level: the config's bootstrap, or more when its tails would rest on
// fewer than minTailResamples values.
func verdictResamples(level float64, bootstrap int) int {
	return max(bootstrap, int(math.Ceil(minTailResamples/((1-level)/2))))
}

// compare sets each SSL method against supervised at backbone b and label
// count l, seed by seed (the cells of a seed share its labelled subset),
// at the Bonferroni level of a family of comparisons; nothing when
// supervised is not in the matrix.
func compare(rows map[string]*row, b, l string, methods []string, labels []int, family, bootstrap int, acc eval.Stat) ([]layout.Comparison, error) {
	sup := rows[rowKey(string(config.Supervised), b, l)]
	if sup == nil {
		return nil, nil
	}
	level := 1 - (1-familyConfidence)/float64(family)
	resamples := verdictResamples(level, bootstrap)
	var out []layout.Comparison
	best := -1
	for _, m := range methods {
		r := rows[rowKey(m, b, l)]
		if m == string(config.Supervised) {
			continue
		}
		c := layout.Comparison{Backbone: b, Labels: l, Method: m, Family: family,
			Overlap: r.AUC.CI.Lo <= sup.AUC.CI.Hi && sup.AUC.CI.Lo <= r.AUC.CI.Hi}
		for i, s := range r.Seeds {
			if i >= len(sup.Seeds) || sup.Seeds[i].Seed != s.Seed {
				return nil, fmt.Errorf("reproduce: %s and supervised, %s %s labels, do not have the same seeds", m, b, l)
			}
			c.SeedAUCDiffs = append(c.SeedAUCDiffs, s.AUC-sup.Seeds[i].AUC)
		}
		var err error
		if c.AUC, err = eval.SeedPairedBootstrap(r.scores, sup.scores, labels, resamples, bootstrapSeed, level, eval.AUC); err != nil {
			return nil, fmt.Errorf("reproduce: %s against supervised, %s %s labels: %w", m, b, l, err)
		}
		if c.Accuracy, err = eval.SeedPairedBootstrap(r.scores, sup.scores, labels, resamples, bootstrapSeed, level, acc); err != nil {
			return nil, fmt.Errorf("reproduce: %s against supervised, %s %s labels: %w", m, b, l, err)
		}
		switch {
		case c.AUC.CI.Lo > 0:
			c.Verdict = shared.VerdictBetter
		case c.AUC.CI.Hi < 0:
			c.Verdict = shared.VerdictWorse
		default:
			c.Verdict = shared.VerdictNotDistinguished
		}
		if best < 0 || r.AUC.Mean > rows[rowKey(out[best].Method, b, l)].AUC.Mean {
			best = len(out)
		}
		out = append(out, c)
	}
	if best >= 0 {
		out[best].Best = true
	}
	return out, nil
}
