package ssl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl/ssltest"
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
// seeds of supervised, dino and simsiam at 300 and all labels, extra
// appended at the top level.
func reproConfig(dataDir, out, extra string) string {
	return fmt.Sprintf(`name: test matrix
data path: %q
output_dir: %q
backbones: [ViT-N/8]
methods: [supervised, dino, simsiam]
labels: [300, all]
seeds: [0, 1]
subset_seed: 4
bootstrap: 200
pretrain:
  epochs: 3
  overrides:
    optimizer: {scheduler_warmup_epochs: 1}
    train args: {batch_size: 64}
  dino:
    config: dino.yaml
    overrides: {train args: {batch_size: 32}}
  simsiam: {config: simsiam.yaml}
finetune:
  epochs: 2
  overrides:
    optimizer: {init_lr: 0.05, final_lr: 0.001}
    train args: {batch_size: 32}
%s`, dataDir, out, extra)
}

func readBase(name string) ([]byte, error) {
	b, ok := reproBases[name]
	if !ok {
		return nil, fmt.Errorf("open %s: no such file", name)
	}
	return []byte(b), nil
}

func parseRepro(t *testing.T, text string) *ReproduceConfig {
	t.Helper()
	rc, err := ParseReproduce([]byte(text), readBase)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// fakePretrainer writes a random backbone where a pretraining leaves it,
// with a made-up normalisation of its own per method (so that the methods'
// classifiers differ); stopped by its context it leaves a resumable run at
// epoch 1 instead. It records every call's options.
type fakePretrainer struct {
	calls []Options
}

func (f *fakePretrainer) pretrain(ctx context.Context, cfg *config.Config, opt Options) error {
	f.calls = append(f.calls, opt)
	p, err := cfg.Preset()
	if err != nil {
		return err
	}
	ps, err := vit.New(p, 0, rand.New(rand.NewPCG(cfg.Experiment.Seed, 9)))
	if err != nil {
		return err
	}
	dir := filepath.Join(cfg.Experiment.OutputDir, LastDir)
	epoch := cfg.Train.Epochs
	if ctx.Err() != nil {
		epoch = 1
	}
	std := map[config.Method]float64{config.DINO: 0.3, config.IBOT: 0.5, config.SimSiam: 1.5}[cfg.Experiment.Method]
	norm := ckpt.Normalization{Mean: [3]float64{0.2, 0.7, 1.3}, Std: [3]float64{std, std, std}}
	if err := ckpt.Save(filepath.Join(dir, ModelFile), ckpt.ParamTensors(ps), ckpt.Sidecar{Preset: p.Name, Epoch: epoch, Normalization: norm}); err != nil {
		return err
	}
	if err := ckpt.SaveState(dir, ckpt.State{Epoch: epoch, Step: epoch}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Experiment.OutputDir, MetricsFile), nil, 0o644); err != nil {
		return err
	}
	if err := writeConfig(filepath.Join(cfg.Experiment.OutputDir, ConfigFile), cfg); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("fake: %w", ErrStopped)
	}
	return nil
}

// reproRun is one Reproduce call and what it reported.
type reproRun struct {
	res    *ReproduceResults
	err    error
	events []CellEvent
	models int // classifiers built
}

// reproduce runs rc with the fake pretrainer and the stand-in classifier;
// stop, if not nil, cancels the context when it returns true for a
// metrics record.
func reproduce(t *testing.T, rc *ReproduceConfig, pre *fakePretrainer, results string, stop func(Record) bool) reproRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var r reproRun
	r.res, r.err = Reproduce(ctx, rc, ReproduceOptions{
		Results: results, Command: "sslens reproduce test.yaml", Pretrain: pre.pretrain,
		NewModel: func(ps *vit.Params, cfg *config.Config) (CellModel, error) {
			r.models++
			return ssltest.NewLogReg(ps)
		},
		Reference: reproReference(t),
		OnCell:    func(e CellEvent) { r.events = append(r.events, e) },
		Progress: func(rec Record) {
			if stop != nil && stop(rec) {
				cancel()
			}
		},
	})
	return r
}

func reproReference(t *testing.T) *ReferenceResults {
	t.Helper()
	b, err := os.ReadFile("../../configs/reference/seed-results.json")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ParseReference(b)
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

// The whole matrix end to end: cells in order, results files, then a
// second run that skips every cell and writes the same numbers.
func TestReproduceMatrix(t *testing.T) {
	dataDir, _ := writeData(t, reproSpec)
	out, resultsDir := filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "results")
	rc := parseRepro(t, reproConfig(dataDir, out, ""))
	pre := &fakePretrainer{}
	first := reproduce(t, rc, pre, resultsDir, nil)
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
	if len(pre.calls) != 4 || pre.calls[0].Resume != "" {
		t.Errorf("pretrainer calls %+v, want 4 fresh ones", pre.calls)
	}
	// 12 classifiers: one model to train and one to score each.
	if first.models != 24 {
		t.Errorf("%d classifiers built, want 24", first.models)
	}

	res := first.res
	if len(res.Rows) != 6 || len(res.Comparisons) != 4 || len(res.Pretraining) != 4 || len(res.Plots) != 2 {
		t.Fatalf("%d rows, %d comparisons, %d pretrainings, %d plots", len(res.Rows), len(res.Comparisons), len(res.Pretraining), len(res.Plots))
	}
	if res.Test != (TestSplit{Images: 54, Lenses: 30, NonLenses: 24}) {
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
		want := NotDistinguished
		if c.AUC.CI.Lo > 0 {
			want = Better
		} else if c.AUC.CI.Hi < 0 {
			want = Worse
		}
		if c.Verdict != want || c.AUC.Resamples != 200 {
			t.Errorf("comparison %+v: want verdict %s", c, want)
		}
		other := config.SimSiam
		if c.Method == config.SimSiam {
			other = config.DINO
		}
		mine, theirs := res.row(c.Method, c.Backbone, c.Labels).AUC.Mean, res.row(other, c.Backbone, c.Labels).AUC.Mean
		if mine != theirs && c.Best != (mine > theirs) {
			t.Errorf("comparison %s %s labels: best %v with AUC %v against %v", c.Method, c.Labels, c.Best, mine, theirs)
		}
	}
	checkResultsFiles(t, resultsDir, res)

	// Every cell is done: the second run trains nothing and scores nothing.
	second := reproduce(t, rc, pre, resultsDir, nil)
	if second.err != nil {
		t.Fatal(second.err)
	}
	for name, s := range states(second.events) {
		if s != CellSkipped {
			t.Errorf("second run: %s %s", name, s)
		}
	}
	if len(pre.calls) != 4 || second.models != 0 {
		t.Errorf("second run: %d pretrainer calls, %d classifiers built", len(pre.calls)-4, second.models)
	}
	for i, row := range second.res.Rows {
		if row.AUC != res.Rows[i].AUC || row.Accuracy != res.Rows[i].Accuracy || row.Seeds[1].WallSeconds != res.Rows[i].Seeds[1].WallSeconds {
			t.Errorf("second run, row %d: %+v, first %+v", i, row.AUC, res.Rows[i].AUC)
		}
	}

	// A changed config does not pass off the finished cells as its own.
	changed := parseRepro(t, strings.Replace(reproConfig(dataDir, out, ""), "init_lr: 0.05", "init_lr: 0.04", 1))
	if r := reproduce(t, changed, pre, resultsDir, nil); r.err == nil ||
		!strings.Contains(r.err.Error(), "finetune supervised vit_nano 300 labels seed 0 finished with another config") ||
		!strings.Contains(r.err.Error(), `optimizer: the run has "init_lr: 0.05", the config "init_lr: 0.04"`) {
		t.Errorf("changed config: err = %v", r.err)
	}

	// A finished classifier that lost its scores is scored again, only.
	scores := filepath.Join(out, "finetune", "dino_vit_nano_300_seed1", ScoresFile)
	want, err := os.ReadFile(scores)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(scores)
	third := reproduce(t, rc, pre, resultsDir, nil)
	if third.err != nil || third.models != 1 {
		t.Fatalf("third run: %v, %d classifiers built, want 1", third.err, third.models)
	}
	if got, _ := os.ReadFile(scores); string(got) != string(want) {
		t.Error("rescored test scores differ")
	}
}

// checkResultsFiles checks results.json, results.md and the plots.
func checkResultsFiles(t *testing.T, dir string, res *ReproduceResults) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	var back ReproduceResults
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(res.Rows) || back.Rows[3].Seeds[1].AUC != res.Rows[3].Seeds[1].AUC ||
		back.Command != "sslens reproduce test.yaml" || !strings.Contains(back.Config, "name: test matrix") ||
		back.Reference == nil || len(back.Reference.Rows) != 32 || back.WallSeconds <= 0 {
		t.Errorf("results.json does not hold the results:\n%.600s", b)
	}
	md, err := os.ReadFile(filepath.Join(dir, ResultsMD))
	if err != nil {
		t.Fatal(err)
	}
	sup300 := res.row(config.Supervised, "vit_nano", "300").AUC
	for _, want := range []string{
		"# test matrix",
		"54 images (30 lenses, 24 non-lenses)",
		"## Test ROC AUC", "## Test accuracy",
		"| method | backbone | 300 labels | all labels |",
		fmt.Sprintf("| supervised | vit_nano | %.4f ± %.4f [%.4f, %.4f] |", sup300.Mean, sup300.Std, sup300.CI.Lo, sup300.CI.Hi),
		"| supervised † | vit_small | 0.9547 | 0.9861 |",
		"| dino † | vit_base | 91.56% | 94.20% |",
		"overlap the test split (47, 90 and 188 test images respectively)",
		"## Does self-supervised pretraining beat supervised training?",
		"Each side is the mean over its 2 seeds",
		"- vit_nano, 300 labels: ",
		"![vit_nano, all labels](roc-vit_nano-all.png)",
		"| pretraining | backbone | seed | epochs | wall time | run |",
		"| dino | vit_nano | 1 | 3 |",
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
		if img.Bounds() != image.Rect(0, 0, plotWidth, plotHeight) {
			t.Errorf("%s: bounds %v", p.File, img.Bounds())
		}
		// Each method has its colour, at least in the legend (the stand-in
		// classifiers rank the images alike, so their curves overlap).
		for _, m := range []config.Method{config.Supervised, config.DINO, config.SimSiam} {
			if n := countColour(img, methodColour(m)); n < 40 {
				t.Errorf("%s: %d pixels of %s's colour", p.File, n, m)
			}
		}
		if n := countColour(img, methodColour(config.IBOT)); n != 0 {
			t.Errorf("%s: %d pixels of ibot's colour, which did not run", p.File, n)
		}
	}
}

// Each curve is drawn in its method's colour along its path, and a
// method's further seeds share its legend entry.
func TestPlotROC(t *testing.T) {
	curve := func(m config.Method, legend string, bend float64) rocCurve {
		c := rocCurve{method: m, legend: legend}
		for i := 0; i <= 50; i++ {
			x := float64(i) / 50
			c.points = append(c.points, eval.ROCPoint{FPR: x, TPR: math.Pow(x, bend)})
		}
		return c
	}
	b, err := plotROC("a title", []rocCurve{
		curve(config.Supervised, "supervised", 1), curve(config.DINO, "dino", 0.2),
		curve(config.DINO, "", 0.25), curve(config.SimSiam, "simsiam", 0.5),
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for m, want := range map[config.Method]int{config.Supervised: 300, config.DINO: 1200, config.SimSiam: 600, config.IBOT: 0} {
		n := countColour(img, methodColour(m))
		if (want == 0) != (n == 0) || n < want {
			t.Errorf("%s: %d pixels of its colour, want at least %d", m, n, want)
		}
	}
	// The first dino curve passes through (0.5, 0.5^0.2).
	x, y := plotLeft+plotSide/2, plotTop+int((1-math.Pow(0.5, 0.2))*plotSide)
	found := false
	for dy := -2; dy <= 2; dy++ {
		found = found || sameRGB(img.At(x, y+dy), methodColour(config.DINO))
	}
	if !found {
		t.Errorf("no dino pixel near (%d, %d)", x, y)
	}
}

// countColour counts the pixels of img with c's red, green and blue.
func countColour(img image.Image, c color.Color) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if sameRGB(img.At(x, y), c) {
				n++
			}
		}
	}
	return n
}

func sameRGB(a, b color.Color) bool {
	r, g, bb, _ := a.RGBA()
	r0, g0, b0, _ := b.RGBA()
	return r == r0 && g == g0 && bb == b0
}

// An interrupted reproduction continues where it stopped: the finished
// cells are skipped, the stopped classifier resumes from its checkpoint,
// and the numbers equal those of an uninterrupted run.
func TestReproduceResumes(t *testing.T) {
	dataDir, _ := writeData(t, reproSpec)
	// The matrix of TestReproduceMatrix with one seed.
	text := strings.Replace(reproConfig(dataDir, filepath.Join(t.TempDir(), "whole"), ""), "seeds: [0, 1]", "seeds: [0]", 1)
	whole := reproduce(t, parseRepro(t, text), &fakePretrainer{}, "", nil)
	if whole.err != nil {
		t.Fatal(whole.err)
	}

	out := filepath.Join(t.TempDir(), "stopped")
	rc := parseRepro(t, text)
	rc.OutputDir = out
	pre := &fakePretrainer{}
	// Stop in the third step of the first dino classifier.
	stopped := reproduce(t, rc, pre, "", func(r Record) bool {
		return r.Kind == KindStep && r.Step == 3 && dinoRunning(out)
	})
	if !errors.Is(stopped.err, ErrStopped) {
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

	again := reproduce(t, rc, pre, "", nil)
	if again.err != nil {
		t.Fatal(again.err)
	}
	st = states(again.events)
	for name, want := range map[string]CellState{
		"finetune supervised vit_nano all labels seed 0": CellSkipped,
		"pretrain dino vit_nano seed 0":                  CellSkipped,
		"finetune dino vit_nano 300 labels seed 0":       CellFinished,
		"pretrain simsiam vit_nano seed 0":               CellFinished,
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
	return isFile(filepath.Join(out, "finetune", "dino_vit_nano_300_seed0", MetricsFile))
}

// What earlier runs leave behind: a pretraining stopped mid-way is
// resumed, one that ended before it was marked finished is skipped, and a
// classifier that died before its first checkpoint starts over.
func TestReproduceLeftovers(t *testing.T) {
	dataDir, _ := writeData(t, reproSpec)
	out := filepath.Join(t.TempDir(), "out")
	text := strings.Replace(reproConfig(dataDir, out, ""), "seeds: [0, 1]", "seeds: [0]", 1)
	rc := parseRepro(t, strings.Replace(text, "labels: [300, all]", "labels: [300]", 1))
	cells, _, err := rc.Plan("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Cell{}
	for _, c := range cells {
		byName[c.Name()] = c
	}
	pre := &fakePretrainer{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pre.pretrain(ctx, byName["pretrain dino vit_nano seed 0"].Config, Options{}); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	if err := pre.pretrain(context.Background(), byName["pretrain simsiam vit_nano seed 0"].Config, Options{}); err != nil {
		t.Fatal(err)
	}
	dead := byName["finetune supervised vit_nano 300 labels seed 0"].Dir
	if err := os.MkdirAll(dead, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dead, MetricsFile), []byte("{\"seq\":1,\"kind\":\"log\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pre.calls = nil
	r := reproduce(t, rc, pre, "", nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(pre.calls) != 1 || pre.calls[0].Resume != byName["pretrain dino vit_nano seed 0"].Dir {
		t.Errorf("pretrainer calls %+v, want one resuming dino", pre.calls)
	}
	st := states(r.events)
	if st["pretrain simsiam vit_nano seed 0"] != CellSkipped || st["finetune supervised vit_nano 300 labels seed 0"] != CellFinished {
		t.Errorf("states %v", st)
	}
	for _, e := range r.events {
		if e.Cell.Name() == "finetune supervised vit_nano 300 labels seed 0" && e.State == CellResumed {
			t.Error("a run without a checkpoint was resumed")
		}
	}
	if rec, err := readCellRecord(byName["pretrain simsiam vit_nano seed 0"].Dir); err != nil || !rec.Finished {
		t.Errorf("the finished pretraining was not marked: %+v, %v", rec, err)
	}
}

func TestReproduceNeedsAPretrainer(t *testing.T) {
	rc := parseRepro(t, reproConfig("/data", t.TempDir(), ""))
	_, err := Reproduce(context.Background(), rc, ReproduceOptions{
		NewModel: func(ps *vit.Params, _ *config.Config) (CellModel, error) { return ssltest.NewLogReg(ps) }})
	if err == nil || !strings.Contains(err.Error(), "methods lists dino, but this build cannot pretrain") {
		t.Errorf("err = %v", err)
	}
}

// Cell configs: base, then the section's overrides, then the method's,
// then the matrix's own keys.
func TestReproducePlan(t *testing.T) {
	rc := parseRepro(t, reproConfig("/data", "/out", ""))
	cells, warnings, err := rc.Plan("", "/other-splits.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 16 || len(warnings) != 0 {
		t.Fatalf("%d cells, warnings %v", len(cells), warnings)
	}
	byName := map[string]*Cell{}
	for _, c := range cells {
		byName[c.Name()] = c
	}
	dino, simsiam := byName["pretrain dino vit_nano seed 1"], byName["pretrain simsiam vit_nano seed 1"]
	ft := byName["finetune dino vit_nano 300 labels seed 1"]
	sup := byName["finetune supervised vit_nano all labels seed 0"]
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"dino method", dino.Config.Experiment.Method, config.DINO},
		{"dino seed (matrix over base)", dino.Config.Experiment.Seed, uint64(1)},
		{"dino backbone (matrix over base)", dino.Config.Network.Backbone, "vit_nano"},
		{"dino epochs (matrix over base)", dino.Config.Train.Epochs, 3},
		{"dino batch (method over section)", dino.Config.Train.BatchSize, 32},
		{"dino warm-up (section over base)", dino.Config.Optimizer.WarmupEpochs, 1},
		{"simsiam batch (section)", simsiam.Config.Train.BatchSize, 64},
		{"simsiam optimizer (its default)", simsiam.Config.Optimizer.Name, "SGD"},
		{"dino folder", dino.Dir, "/out/pretrain/dino_vit_nano_seed1"},
		{"data", dino.Config.Input.DataPath, "/data"},
		{"indices (option over config)", dino.Config.Input.Indices, "/other-splits.json"},
		{"fine-tune method", ft.Config.Experiment.Method, config.Finetune},
		{"fine-tune checkpoint", ft.Config.Finetune.Checkpoint, "/out/pretrain/dino_vit_nano_seed1/checkpoints/last/model.safetensors"},
		{"fine-tune labels", ft.Config.Finetune.Labels, "300"},
		{"fine-tune subset seed", ft.Config.Finetune.SubsetSeed, uint64(4)},
		{"fine-tune bootstrap", ft.Config.Finetune.Bootstrap, 200},
		{"fine-tune lr (overrides)", ft.Config.Optimizer.InitLR, 0.05},
		{"fine-tune optimizer (reference protocol)", ft.Config.Optimizer.Name, "Adam"},
		{"fine-tune epochs", ft.Config.Train.Epochs, 2},
		{"fine-tune pretraining", ft.Pretrain, dino},
		{"fine-tune folder", ft.Dir, "/out/finetune/dino_vit_nano_300_seed1"},
		{"supervised method", sup.Config.Experiment.Method, config.Supervised},
		{"supervised checkpoint", sup.Config.Finetune.Checkpoint, ""},
		{"supervised pretraining", sup.Pretrain, (*Cell)(nil)},
		{"supervised name", sup.Config.Experiment.Name, "supervised_vit_nano_all_seed0"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	// Unknown keys in overrides are warnings naming the cell, without the
	// merged document's line numbers.
	rc = parseRepro(t, strings.Replace(reproConfig("/data", "/out", ""), "{batch_size: 64}", "{batch_size: 64, batch_sise: 3}", 1))
	_, warnings, err = rc.Plan("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	if !strings.Contains(joined, "pretrain dino vit_nano seed 0: train args.batch_sise: unknown key, ignored") || strings.Contains(joined, "line ") {
		t.Errorf("warnings:\n%s", joined)
	}
}

// Bad reproduce configs are refused with the key path (and line) at fault.
func TestReproduceConfigErrors(t *testing.T) {
	good := reproConfig("/data", "/out", "")
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unknown key", "bootstrap: 200", "bootstrap: 200\nseed: 3", "seed: line 10: unknown key (want one of backbones, bootstrap, data path"},
		{"unknown section key", "  epochs: 3", "  epoch: 3", "pretrain.epoch: line 11: unknown key (want one of dino, epochs, ibot, overrides, simsiam)"},
		{"unknown method key", "config: dino.yaml", "cfg: dino.yaml", "pretrain.dino.cfg: line 16: unknown key (want one of config, epochs, overrides)"},
		{"unknown method", "methods: [supervised, dino, simsiam]", "methods: [supervised, byol]", `methods[1]: "byol" is not one of supervised, dino, ibot, simsiam`},
		{"method twice", "methods: [supervised, dino, simsiam]", "methods: [dino, supervised, dino]", `methods[2]: "dino" is listed twice`},
		{"unknown label count", "labels: [300, all]", "labels: [300, 250]", `labels[1]: "250" is not one of 300, 600, 1200, all`},
		{"unknown backbone", "backbones: [ViT-N/8]", "backbones: [vit_nano, vit_huge]", `backbones[1]: vit: unknown preset "vit_huge"`},
		{"backbone twice", "backbones: [ViT-N/8]", "backbones: [ViT-N/8, vit_nano]", `backbones[1]: "vit_nano" is listed twice`},
		{"no backbones", "backbones: [ViT-N/8]", "backbones: []", "backbones: empty"},
		{"seeds not a list", "seeds: [0, 1]", "seeds: 3", `seeds: line 7: "3" is not a list of a non-negative integers`},
		{"negative seed", "seeds: [0, 1]", "seeds: [0, -1]", `seeds[1]: line 7: "-1" is not a non-negative integer`},
		{"seed twice", "seeds: [0, 1]", "seeds: [1, 1]", "seeds[1]: 1 is listed twice"},
		{"bootstrap zero", "bootstrap: 200", "bootstrap: 0", "bootstrap: 0: want a positive number of resamples"},
		{"epochs not a number", "  epochs: 3", "  epochs: many", `pretrain.epochs: line 11: "many" is not an integer`},
		{"negative epochs", "  epochs: 2\n", "  epochs: -2\n", "finetune.epochs: -2 is negative"},
		{"negative method epochs", "simsiam: {config: simsiam.yaml}", "simsiam: {config: simsiam.yaml, epochs: -1}", "pretrain.simsiam.epochs: -1 is negative"},
		{"overrides not a mapping", "  overrides:\n    optimizer: {init_lr", "  overrides: [1]\n  x:\n    optimizer: {init_lr", "finetune.overrides: line 21: a list of 1 is not a mapping of config sections"},
		{"missing base file", "config: dino.yaml", "config: nope.yaml", "pretrain.dino.config: open nope.yaml: no such file"},
		{"method without its config", "simsiam: {config: simsiam.yaml}", "ibot: {config: simsiam.yaml}", "pretrain.simsiam.config: missing; methods lists simsiam"},
		{"method section without config", "simsiam: {config: simsiam.yaml}", "simsiam: {epochs: 2}", "pretrain.simsiam.config: missing; want the path of a simsiam config"},
		{"per-backbone configs", "config: dino.yaml", "config: {vit_small: dino.yaml}", "pretrain.dino.config: no config for backbone vit_nano"},
		{"per-backbone config of an unknown backbone", "config: dino.yaml", "config: {vit_nano: dino.yaml, vit_q: dino.yaml}", `pretrain.dino.config.vit_q: line 16: vit: unknown preset "vit_q"`},
		{"per-backbone config missing", "config: dino.yaml", "config: {vit_nano: none.yaml}", "pretrain.dino.config.vit_nano: open none.yaml: no such file"},
		{"not a mapping", "", "just words", "want a mapping of keys at the top level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(good, tc.old, tc.new, 1)
			if tc.old == "" {
				text = tc.new
			} else if text == good {
				t.Fatalf("%q is not in the config", tc.old)
			}
			_, err := ParseReproduce([]byte(text), readBase)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}

// Cell configs that cannot run are refused by Plan, before anything
// trains, naming the section, the base config, the cell and the key.
func TestReproducePlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, data, want string
	}{
		{"warm-up longer than the run", "scheduler_warmup_epochs: 1}", "scheduler_warmup_epochs: 5}", "/data",
			"reproduce: pretrain.dino: dino.yaml with overrides for pretrain dino vit_nano seed 0: optimizer.scheduler_warmup_epochs: 5 is not within [0, num_epochs 3]"},
		{"bad fine-tune value", "init_lr: 0.05", "init_lr: -1", "/data",
			"reproduce: finetune: the reference fine-tuning protocol with overrides for finetune supervised vit_nano 300 labels seed 0: optimizer.init_lr: -1: want a positive number"},
		{"a config of another method", "simsiam: {config: simsiam.yaml}", "simsiam: {config: dino.yaml}", "/data",
			"reproduce: pretrain.simsiam.config: dino.yaml trains dino, not simsiam"},
		{"no data", "name: test matrix", "name: test matrix", "",
			"reproduce: data path: empty; set it in the reproduce config or pass --data DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(reproConfig(tc.data, "/out", ""), tc.old, tc.new, 1)
			rc := parseRepro(t, text)
			if _, _, err := rc.Plan("", "", ""); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}

// The shipped presets parse, plan and train what configs/README.md says.
func TestShippedReproduceConfigs(t *testing.T) {
	for _, tc := range []struct {
		file      string
		cells     int
		backbones []string
	}{
		{"reproduce-cpu.yaml", 38, []string{"vit_nano"}},
		{"reproduce-full.yaml", 38, []string{"vit_small", "vit_base"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rc, err := LoadReproduce(filepath.Join("../../configs", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			cells, warnings, err := rc.Plan("/data", "", "/out")
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != tc.cells || !slices.Equal(rc.Backbones, tc.backbones) || len(warnings) != 0 {
				t.Errorf("%d cells, backbones %v, warnings %v", len(cells), rc.Backbones, warnings)
			}
			for _, c := range cells {
				cfg := c.Config
				if c.Kind == CellFinetune {
					// The reference protocol: Adam 1e-4 to 1e-8, batch 64, no
					// augmentation, all weights trained.
					o := cfg.Optimizer
					if o.Name != "Adam" || o.InitLR != 1e-4 || o.FinalLR != 1e-8 || cfg.Train.BatchSize != 64 || cfg.Finetune.Augment || cfg.Finetune.LinearProbe {
						t.Errorf("%s: optimizer %+v, batch %d, augment %v, linear probe %v", c.Name(), o, cfg.Train.BatchSize, cfg.Finetune.Augment, cfg.Finetune.LinearProbe)
					}
				}
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	ref := reproReference(t)
	if len(ref.Rows) != 32 || !slices.Equal(ref.backbones(), []string{"vit_small", "vit_base"}) || !strings.Contains(ref.Caveat, "optimistic") {
		t.Fatalf("%d rows, backbones %v, caveat %q", len(ref.Rows), ref.backbones(), ref.Caveat)
	}
	for _, tc := range []struct {
		method          config.Method
		backbone, label string
		labels          int
		acc, auc        float64
	}{
		{config.Supervised, "vit_small", "300", 300, 0.897098, 0.9547},
		{config.Supervised, "vit_base", "all", 3863, 0.949868, 0.9843},
		{config.IBOT, "vit_small", "all", 3256, 0.956464, 0.9906},
	} {
		row, ok := ref.forLabels(tc.method, tc.backbone, tc.label)
		if !ok || row.Labels != tc.labels || math.Abs(row.Accuracy-tc.acc) > 1e-12 || row.AUC != tc.auc {
			t.Errorf("%s %s %s: %+v, %v", tc.method, tc.backbone, tc.label, row, ok)
		}
	}
	for _, tc := range []struct{ name, text, want string }{
		{"columns", `{"columns": ["method", "labels"], "rows": []}`, "columns"},
		{"short row", `{"columns": ["method", "backbone", "labels", "accuracy_percent", "auc"], "rows": [["dino", "ViT-S/8", 300]]}`, "rows[0]: 3 values"},
		{"method", `{"columns": ["method", "backbone", "labels", "accuracy_percent", "auc"], "rows": [["byol", "ViT-S/8", 300, 90, 0.9]]}`, `rows[0]: method "byol"`},
		{"labels", `{"columns": ["method", "backbone", "labels", "accuracy_percent", "auc"], "rows": [["dino", "ViT-S/8", "x", 90, 0.9]]}`, "rows[0]: "},
		{"backbone", `{"columns": ["method", "backbone", "labels", "accuracy_percent", "auc"], "rows": [["dino", "ViT-Q/8", 300, 90, 0.9]]}`, `unknown preset "ViT-Q/8"`},
	} {
		if _, err := ParseReference([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// The comparisons with supervised training on known scores.
func TestComparisonVerdicts(t *testing.T) {
	label := []int{1, 1, 1, 1, 0, 0, 0, 0}
	good := []float64{0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1}
	poor := []float64{0.9, 0.2, 0.7, 0.3, 0.8, 0.3, 0.6, 0.1}
	rows := map[string]*ResultRow{
		rowKey(config.Supervised, "b", "300"): {scores: [][]float64{poor}},
		rowKey(config.DINO, "b", "300"):       {scores: [][]float64{good}, AUC: Spread{Mean: 1}},
		rowKey(config.IBOT, "b", "300"):       {scores: [][]float64{poor}, AUC: Spread{Mean: 0.5}},
	}
	acc := func(p []float64, l []int) (float64, error) { return eval.Accuracy(p, l, 0.5) }
	cmps, err := compare(rows, "b", "300", []config.Method{config.Supervised, config.DINO, config.IBOT}, label, 300, acc)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmps) != 2 || cmps[0].Method != config.DINO || !cmps[0].Best || cmps[1].Best {
		t.Fatalf("comparisons %+v", cmps)
	}
	if cmps[1].Verdict != NotDistinguished || cmps[1].AUC.Diff != 0 || cmps[1].AUC.CI != (eval.Interval{}) {
		t.Errorf("a classifier against its twin: %+v", cmps[1])
	}
	if d := cmps[0].AUC; d.Diff <= 0 || (cmps[0].Verdict == Better) != (d.CI.Lo > 0) {
		t.Errorf("the better classifier: %+v", cmps[0])
	}
	if got, _ := compare(rows, "b", "600", nil, label, 10, acc); got != nil {
		t.Errorf("no supervised row: %+v", got)
	}
}

func TestDuration(t *testing.T) {
	for s, want := range map[float64]string{9.46: "9.5 s", 65: "1 min 05 s", 3725: "1 h 02 min"} {
		if got := duration(s); got != want {
			t.Errorf("duration(%v) = %q, want %q", s, got, want)
		}
	}
}
