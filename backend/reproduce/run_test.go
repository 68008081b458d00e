package reproduce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/render"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

// reproSpec has the 300 train images a 300-label subset needs, and more,
// with a signal the stand-in classifier finds but not perfectly.
var reproSpec = ssltest.Spec{
	Train: ssltest.Split{Lenses: 170, NonLenses: 160, Signal: 0.12},
	Val:   ssltest.Split{Lenses: 12, NonLenses: 12, Signal: 0.12},
	Test:  ssltest.Split{Lenses: 30, NonLenses: 24, Signal: 0.12},
	Size:  32, Seed: 8,
}

// reproBases are the base configs the test matrix reads.
var reproBases = map[string]string{
	"dino.yaml": `experiment: {ssl_training: dino, seed: 12}
network: {backbone: vit_small}
optimizer: {scheduler_warmup_epochs: 10}
train args: {batch_size: 128, num_epochs: 100}
`,
	"simsiam.yaml": `experiment: {ssl_training: simsiam}
train args: {num_epochs: 100}
`,
}

// reproConfig is a reproduce config over dataDir writing to out: two
// seeds of supervised, dino and simsiam at 300 and all labels. The
// pretrainings are real but short: one epoch, with two small local crops.
func reproConfig(dataDir, out string) string {
	return fmt.Sprintf(`name: test matrix
data path: %q
output_dir: %q
subset_seed: 4
bootstrap: 200
deviations: ["One pretraining epoch: a test."]
backbones: [ViT-N/8]
methods: [supervised, dino, simsiam]
labels: [300, all]
seeds: [0, 1]
pretrain:
  epochs: 1
  overrides:
    optimizer: {scheduler_warmup_epochs: 1}
    train args: {batch_size: 64}
    ssl augmentation kwargs: {num_local_crops: 2, local_crop_size: 16}
  dino: {config: dino.yaml, overrides: {train args: {batch_size: 32}}}
  simsiam: {config: simsiam.yaml}
finetune: {epochs: 2, overrides: {optimizer: {init_lr: 0.05, final_lr: 0.001}, train args: {batch_size: 32}}}
`, dataDir, out)
}

func readBase(name string) ([]byte, error) {
	b, ok := reproBases[name]
	if !ok {
		return nil, fmt.Errorf("open %s: no such file", name)
	}
	return []byte(b), nil
}

func parseRepro(t *testing.T, text string) *config.ReproduceConfig {
	t.Helper()
	rc, err := config.ParseReproduce([]byte(text), readBase)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// oneSeed is reproConfig with seed 0 only.
func oneSeed(dataDir, out string) string {
	return strings.Replace(reproConfig(dataDir, out), "seeds: [0, 1]", "seeds: [0]", 1)
}

// reproRun is one Run call and what it reported.
type reproRun struct {
	res    *layout.ReproduceResults
	err    error
	events []CellEvent
	models int // classifiers built
}

// reproduce runs rc with the stand-in classifier; stop, if not nil,
// cancels the context when it returns true for a metrics record.
func reproduce(t *testing.T, rc *config.ReproduceConfig, results string, stop func(shared.Metric) bool) reproRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var r reproRun
	r.res, r.err = Run(ctx, rc, Options{
		Results: results, Command: "sslens reproduce test.yaml",
		NewModel: func(ps *vit.Params, cfg *config.Config) (CellModel, error) {
			r.models++
			return ssltest.NewLogReg(ps)
		},
		Reference: reproReference(t),
		OnCell:    func(e CellEvent) { r.events = append(r.events, e) },
		Progress: func(rec shared.Metric) {
			if stop != nil && stop(rec) {
				cancel()
			}
		},
	})
	return r
}

func reproReference(t *testing.T) *layout.ReferenceResults {
	t.Helper()
	b, err := os.ReadFile("../../configs/reference/seed-results.json")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := config.ParseReference(b)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// states returns the state of each cell's last event, by cell name.
func states(events []CellEvent) map[string]CellState {
	out := map[string]CellState{}
	for _, e := range events {
		out[e.Cell.Name()] = e.State
	}
	return out
}

// count counts the events of kind k in state s.
func count(events []CellEvent, k CellKind, s CellState) int {
	n := 0
	for _, e := range events {
		if e.Cell.Kind == k && e.State == s {
			n++
		}
	}
	return n
}

// The whole matrix end to end: cells in order, results files, then a
// second run that skips every cell and writes the same numbers.
func TestReproduceMatrix(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, reproSpec)
	out, resultsDir := filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "results")
	rc := parseRepro(t, reproConfig(dataDir, out))
	first := reproduce(t, rc, resultsDir, nil)
	if first.err != nil {
		t.Fatal(first.err)
	}
	// 2 seeds x (2 pretrainings + 3 methods x 2 label counts).
	var order []string
	for _, e := range first.events {
		if e.State == CellFinished {
			order = append(order, e.Cell.Name())
		}
		if e.Total != 16 {
			t.Fatalf("event %+v: want 16 cells", e)
		}
	}
	wantOrder := []string{
		"finetune supervised vit_nano 300 labels seed 0", "finetune supervised vit_nano all labels seed 0",
		"pretrain dino vit_nano seed 0", "finetune dino vit_nano 300 labels seed 0", "finetune dino vit_nano all labels seed 0",
		"pretrain simsiam vit_nano seed 0", "finetune simsiam vit_nano 300 labels seed 0", "finetune simsiam vit_nano all labels seed 0",
	}
	if len(order) != 16 || !slices.Equal(order[:8], wantOrder) {
		t.Fatalf("cells finished in the order\n%s", strings.Join(order, "\n"))
	}
	if n := count(first.events, CellPretrain, CellStarted); n != 4 {
		t.Errorf("%d pretrainings started, want 4 fresh ones", n)
	}
	// 12 classifiers: one model to train and one to score each.
	if first.models != 24 {
		t.Errorf("%d classifiers built, want 24", first.models)
	}

	res := first.res
	if len(res.Rows) != 6 || len(res.Comparisons) != 4 || len(res.Pretraining) != 4 || len(res.Plots) != 2 {
		t.Fatalf("%d rows, %d comparisons, %d pretrainings, %d plots", len(res.Rows), len(res.Comparisons), len(res.Pretraining), len(res.Plots))
	}
	if res.Test != (shared.TestSplit{Images: 54, Lenses: 30, NonLenses: 24}) {
		t.Errorf("test split %+v", res.Test)
	}
	for _, row := range res.Rows {
		if len(row.Seeds) != 2 || row.Seeds[0].Seed != 0 || row.Seeds[1].Seed != 1 {
			t.Fatalf("%s %s: seeds %+v", row.Method, row.Labels, row.Seeds)
		}
		wantTrain := map[string]int{"300": 300, "all": 330}[row.Labels]
		if row.TrainImages != wantTrain {
			t.Errorf("%s %s labels: %d train images, want %d", row.Method, row.Labels, row.TrainImages, wantTrain)
		}
		a0, a1 := row.Seeds[0].AUC, row.Seeds[1].AUC
		mean, std := (a0+a1)/2, math.Abs(a0-a1)/math.Sqrt2
		if math.Abs(row.AUC.Mean-mean) > 1e-12 || math.Abs(row.AUC.Std-std) > 1e-12 || row.AUC.Min != min(a0, a1) || row.AUC.Max != max(a0, a1) {
			t.Errorf("%s %s: AUC spread %+v for seeds %v, %v", row.Method, row.Labels, row.AUC, a0, a1)
		}
		if !(row.AUC.CI.Lo <= row.AUC.Mean && row.AUC.Mean <= row.AUC.CI.Hi) || row.AUC.CI.Hi-row.AUC.CI.Lo <= 0 {
			t.Errorf("%s %s: AUC interval %+v, mean %v", row.Method, row.Labels, row.AUC.CI, row.AUC.Mean)
		}
		if row.AUC.Mean < 0.7 {
			t.Errorf("%s %s: test AUC %v: the stand-in classifier should find the blobs", row.Method, row.Labels, row.AUC.Mean)
		}
		var cfg map[string]any
		if err := json.Unmarshal(row.Seeds[0].Config, &cfg); err != nil || cfg["finetune"].(map[string]any)["labels"] != row.Labels {
			t.Errorf("%s %s: recorded config %s (%v)", row.Method, row.Labels, row.Seeds[0].Config, err)
		}
		if row.Seeds[0].WallSeconds <= 0 || row.Seeds[0].Epochs != 2 {
			t.Errorf("%s %s: seed 0 %+v", row.Method, row.Labels, row.Seeds[0])
		}
	}
	for _, c := range res.Comparisons {
		want := shared.VerdictNotDistinguished
		if c.AUC.CI.Lo > 0 {
			want = shared.VerdictBetter
		} else if c.AUC.CI.Hi < 0 {
			want = shared.VerdictWorse
		}
		// 4 comparisons at 1 - 0.05/4, with 20 resamples in each tail.
		if c.Verdict != want || c.AUC.Level != 0.9875 || c.AUC.Resamples != 3201 || c.Family != 4 || len(c.SeedAUCDiffs) != 2 {
			t.Errorf("comparison %+v: want verdict %s", c, want)
		}
		other := "simsiam"
		if c.Method == "simsiam" {
			other = "dino"
		}
		mine, theirs := rowOf(res, c.Method, c.Backbone, c.Labels).AUC.Mean, rowOf(res, other, c.Backbone, c.Labels).AUC.Mean
		if mine != theirs && c.Best != (mine > theirs) {
			t.Errorf("comparison %s %s labels: best %v with AUC %v against %v", c.Method, c.Labels, c.Best, mine, theirs)
		}
	}
	checkResultsFiles(t, resultsDir, res)

	// Every cell is done: the second run trains nothing and scores nothing.
	second := reproduce(t, rc, resultsDir, nil)
	if second.err != nil {
		t.Fatal(second.err)
	}
	for name, s := range states(second.events) {
		if s != CellSkipped {
			t.Errorf("second run: %s %s", name, s)
		}
	}
	if second.models != 0 {
		t.Errorf("second run: %d classifiers built", second.models)
	}
	for i, row := range second.res.Rows {
		if row.AUC != res.Rows[i].AUC || row.Accuracy != res.Rows[i].Accuracy || row.Seeds[1].WallSeconds != res.Rows[i].Seeds[1].WallSeconds {
			t.Errorf("second run, row %d: %+v, first %+v", i, row.AUC, res.Rows[i].AUC)
		}
	}

	// A changed config does not pass off the finished cells as its own.
	changed := parseRepro(t, strings.Replace(reproConfig(dataDir, out), "init_lr: 0.05", "init_lr: 0.04", 1))
	if r := reproduce(t, changed, resultsDir, nil); r.err == nil ||
		!strings.Contains(r.err.Error(), "finetune supervised vit_nano 300 labels seed 0 finished with another config") ||
		!strings.Contains(r.err.Error(), `optimizer: the run has "init_lr: 0.05", the config "init_lr: 0.04"`) {
		t.Errorf("changed config: err = %v", r.err)
	}

	// A finished classifier that lost its scores is scored again, only.
	scores := filepath.Join(out, "finetune", "dino_vit_nano_300_seed1", layout.ScoresFile)
	want, err := os.ReadFile(scores)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(scores)
	third := reproduce(t, rc, resultsDir, nil)
	if third.err != nil || third.models != 1 {
		t.Fatalf("third run: %v, %d classifiers built, want 1", third.err, third.models)
	}
	if got, _ := os.ReadFile(scores); string(got) != string(want) {
		t.Error("rescored test scores differ")
	}
}

// checkResultsFiles checks results.json, results.md and the plots.
func checkResultsFiles(t *testing.T, dir string, res *layout.ReproduceResults) {
	t.Helper()
	back, err := layout.ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(res.Rows) || back.Rows[3].Seeds[1].AUC != res.Rows[3].Seeds[1].AUC ||
		back.Command != "sslens reproduce test.yaml" || !strings.Contains(back.Config, "name: test matrix") ||
		back.Reference == nil || len(back.Reference.Rows) != 32 || back.WallSeconds <= 0 {
		t.Errorf("results.json does not hold the results: %+v", back)
	}
	md, err := os.ReadFile(filepath.Join(dir, layout.ResultsMD))
	if err != nil {
		t.Fatal(err)
	}
	sup300 := rowOf(res, "supervised", "vit_nano", "300").AUC
	for _, want := range []string{
		"# test matrix",
		"54 images (30 lenses, 24 non-lenses)",
		"## Test ROC AUC", "## Test accuracy",
		"| method | backbone | 300 labels | all labels |",
		fmt.Sprintf("| supervised | vit_nano | %.4f ± %.4f [%.4f, %.4f] |", sup300.Mean, sup300.Std, sup300.CI.Lo, sup300.CI.Hi),
		"| supervised † | vit_small | 0.9547 | 0.9861 |",
		"| dino † | vit_base | 91.56% | 94.20% |",
		"overlap the test split (47, 90 and 188 test images respectively)",
		"## Deviations from the reference protocol\n\nWhere these cells differ from the reference project's configs and code, and why:\n\n- One pretraining epoch: a test.\n",
		"## Does self-supervised pretraining beat supervised training?",
		"The table makes 4 comparisons; each interval is at the 98.75% level (Bonferroni)",
		"With 2 seeds the resampled seeds say little",
		"- vit_nano, 300 labels: ",
		"![vit_nano, all labels](roc-vit_nano-all.png)",
		"| pretraining | backbone | seed | epochs | wall time | run |",
		"| dino | vit_nano | 1 | 1 |",
		"`finetune/simsiam_vit_nano_all_seed1`",
		"```\nsslens reproduce test.yaml\n```",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("results.md:\n%s", md)
	}
	for _, p := range res.Plots {
		f, err := os.Open(filepath.Join(dir, p.File))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p.File, err)
		}
		if img.Bounds() != image.Rect(0, 0, render.ROCWidth, render.ROCHeight) {
			t.Errorf("%s: bounds %v", p.File, img.Bounds())
		}
	}
}

// A plot has a curve per method and seed in the method's colour, and a
// legend entry per method.
func TestPlotCurves(t *testing.T) {
	roc := [][]eval.ROCPoint{{{FPR: 0, TPR: 0}, {FPR: 1, TPR: 1}}, {{FPR: 0, TPR: 0}, {FPR: 0.5, TPR: 1}, {FPR: 1, TPR: 1}}}
	r := &collected{
		ReproduceResults: &layout.ReproduceResults{Methods: []string{"supervised", "dino"}},
		rows: map[string]*row{
			rowKey("supervised", "b", "300"): {ResultRow: layout.ResultRow{AUC: shared.Spread{Mean: 0.5}}, roc: roc[:1]},
			rowKey("dino", "b", "300"):       {ResultRow: layout.ResultRow{AUC: shared.Spread{Mean: 0.75}}, roc: roc},
		},
	}
	curves := r.curves(layout.ROCPlot{Backbone: "b", Labels: "300"})
	if len(curves) != 3 {
		t.Fatalf("%d curves, want 3", len(curves))
	}
	for i, want := range []struct {
		colour string
		legend string
		points int
	}{{"supervised", "supervised, AUC 0.500", 2}, {"dino", "dino, AUC 0.750 (mean of 2 seeds)", 2}, {"dino", "", 3}} {
		c := curves[i]
		if c.Colour != methodColour(want.colour) || c.Legend != want.legend || len(c.Points) != want.points {
			t.Errorf("curve %d: %v %q, %d points; want %s's colour, %q, %d points", i, c.Colour, c.Legend, len(c.Points), want.colour, want.legend, want.points)
		}
	}
	if methodColour("ibot") == methodColour("dino") || methodColour("supervised") == methodColour("simsiam") {
		t.Error("two methods share a colour")
	}
}

// An interrupted reproduction continues where it stopped: the finished
// cells are skipped, the stopped classifier resumes from its checkpoint,
// and the numbers equal those of an uninterrupted run.
func TestReproduceResumes(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, reproSpec)
	text := strings.Replace(oneSeed(dataDir, filepath.Join(t.TempDir(), "whole")), "methods: [supervised, dino, simsiam]", "methods: [supervised, dino]", 1)
	whole := reproduce(t, parseRepro(t, text), "", nil)
	if whole.err != nil {
		t.Fatal(whole.err)
	}

	out := filepath.Join(t.TempDir(), "stopped")
	rc := parseRepro(t, text)
	rc.OutputDir = out
	// Stop in the third step of the first dino classifier.
	stopped := reproduce(t, rc, "", func(r shared.Metric) bool {
		return r.Kind == shared.MetricStep && r.Step == 3 && dinoRunning(out)
	})
	if !errors.Is(stopped.err, ssl.ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", stopped.err)
	}
	st := states(stopped.events)
	if st["finetune dino vit_nano 300 labels seed 0"] != CellStarted || st["pretrain dino vit_nano seed 0"] != CellFinished {
		t.Fatalf("states after the stop: %v", st)
	}
	rec, err := readCellRecord(filepath.Join(out, "finetune", "dino_vit_nano_300_seed0"))
	if err != nil || rec.Sessions != 1 || rec.Finished || rec.WallSeconds <= 0 {
		t.Errorf("cell record of the stopped cell: %+v, %v", rec, err)
	}

	again := reproduce(t, rc, "", nil)
	if again.err != nil {
		t.Fatal(again.err)
	}
	st = states(again.events)
	for name, want := range map[string]CellState{
		"finetune supervised vit_nano all labels seed 0": CellSkipped,
		"pretrain dino vit_nano seed 0":                  CellSkipped,
		"finetune dino vit_nano 300 labels seed 0":       CellFinished,
		"finetune dino vit_nano all labels seed 0":       CellFinished,
	} {
		if st[name] != want {
			t.Errorf("%s: %s, want %s", name, st[name], want)
		}
	}
	var resumed bool
	for _, e := range again.events {
		resumed = resumed || (e.State == CellResumed && e.Cell.Name() == "finetune dino vit_nano 300 labels seed 0")
	}
	if !resumed {
		t.Error("the stopped classifier was not resumed")
	}
	rec, _ = readCellRecord(filepath.Join(out, "finetune", "dino_vit_nano_300_seed0"))
	if rec.Sessions != 2 || !rec.Finished {
		t.Errorf("cell record after resuming: %+v", rec)
	}
	for i, row := range again.res.Rows {
		w := whole.res.Rows[i]
		if row.Seeds[0].AUC != w.Seeds[0].AUC || row.Seeds[0].Accuracy != w.Seeds[0].Accuracy {
			t.Errorf("%s %s labels: AUC %v after the stop, %v uninterrupted", row.Method, row.Labels, row.Seeds[0].AUC, w.Seeds[0].AUC)
		}
	}
}

// dinoRunning reports whether the first dino classifier has started.
func dinoRunning(out string) bool {
	return layout.IsFile(filepath.Join(out, "finetune", "dino_vit_nano_300_seed0", layout.MetricsFile))
}

// What earlier runs leave behind: a pretraining stopped mid-way is
// resumed, one that ended before it was marked finished is skipped, and a
// classifier that died before its first checkpoint starts over.
func TestReproduceLeftovers(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, reproSpec)
	out := filepath.Join(t.TempDir(), "out")
	// Two dino pretraining epochs, so that it can stop between them.
	text := strings.Replace(oneSeed(dataDir, out), "labels: [300, all]", "labels: [300]", 1)
	text = strings.Replace(text, "pretrain:\n  epochs: 1", "pretrain:\n  epochs: 2", 1)
	rc := parseRepro(t, strings.Replace(text, "simsiam: {config: simsiam.yaml}", "simsiam: {config: simsiam.yaml, epochs: 1}", 1))
	cells, _, err := Plan(rc, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Cell{}
	for _, c := range cells {
		byName[c.Name()] = c
	}
	// The dino pretraining stops after its first epoch.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopAfterEpoch := func(r shared.Metric) {
		if r.Kind == shared.MetricEpoch {
			cancel()
		}
	}
	if err := pretrain(ctx, byName["pretrain dino vit_nano seed 0"].Config, ssl.Options{Progress: stopAfterEpoch}); !errors.Is(err, ssl.ErrStopped) {
		t.Fatal(err)
	}
	if err := pretrain(context.Background(), byName["pretrain simsiam vit_nano seed 0"].Config, ssl.Options{}); err != nil {
		t.Fatal(err)
	}
	dead := byName["finetune supervised vit_nano 300 labels seed 0"].Dir
	if err := os.MkdirAll(dead, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dead, layout.MetricsFile), []byte("{\"seq\":1,\"kind\":\"log\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := reproduce(t, rc, "", nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	st := states(r.events)
	if st["pretrain simsiam vit_nano seed 0"] != CellSkipped || st["finetune supervised vit_nano 300 labels seed 0"] != CellFinished ||
		st["pretrain dino vit_nano seed 0"] != CellFinished {
		t.Errorf("states %v", st)
	}
	for _, e := range r.events {
		switch {
		case e.Cell.Name() == "finetune supervised vit_nano 300 labels seed 0" && e.State == CellResumed:
			t.Error("a run without a checkpoint was resumed")
		case e.Cell.Name() == "pretrain dino vit_nano seed 0" && e.State == CellStarted:
			t.Error("the stopped pretraining started over")
		}
	}
	if rec, err := readCellRecord(byName["pretrain simsiam vit_nano seed 0"].Dir); err != nil || !rec.Finished {
		t.Errorf("the finished pretraining was not marked: %+v, %v", rec, err)
	}
}
