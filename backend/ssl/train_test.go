package ssl

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/sim"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

func TestTrainWritesTheRunFolder(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, smallSpec)
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, dataDir, out, nil)
	rep, seen, err := train(t, cfg, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const epochs, iters = 4, 3
	for _, f := range []string{layout.ResolvedConfig, layout.MetricsFile, layout.ReportJSON, layout.ReportMD,
		"checkpoints/last/model.safetensors", "checkpoints/last/model.json", "checkpoints/last/state.safetensors",
		"checkpoints/last/state.json", "checkpoints/best/model.safetensors", "checkpoints/best/model.json"} {
		if !layout.IsFile(filepath.Join(out, f)) {
			t.Errorf("run folder lacks %s", f)
		}
	}
	if layout.IsFile(filepath.Join(out, layout.SubsetFile)) {
		t.Errorf("%s written for labels: all", layout.SubsetFile)
	}

	recs, err := layout.ReadMetrics(filepath.Join(out, layout.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stripTimes(recs), stripTimes(seen)) {
		t.Error("metrics.jsonl differs from the records Progress received")
	}
	count := map[shared.MetricKind]int{}
	lastStep := 0
	for i, r := range recs {
		count[r.Kind]++
		if r.Seq != i+1 {
			t.Fatalf("record %d has seq %d", i+1, r.Seq)
		}
		if r.Step < lastStep {
			t.Fatalf("record %d goes back from step %d to %d", r.Seq, lastStep, r.Step)
		}
		lastStep = r.Step
		switch r.Kind {
		case shared.MetricStep:
			if r.Loss == nil || r.LR == nil || r.Accuracy == nil || r.ImagesPerSec == nil || r.TotalSteps != epochs*iters {
				t.Errorf("step record %+v lacks a field", r)
			}
		case shared.MetricEval:
			if r.Accuracy == nil || r.AUC == nil || (r.Split != "val" && r.Split != "test") {
				t.Errorf("eval record %+v", r)
			}
		}
	}
	// 4 per-epoch val passes plus val and test for last and best.
	if count[shared.MetricStep] != epochs*iters || count[shared.MetricEpoch] != epochs || count[shared.MetricEval] != epochs+4 {
		t.Errorf("record counts %v, want %d steps, %d epochs, %d evals", count, epochs*iters, epochs, epochs+4)
	}
	if lastStep != epochs*iters {
		t.Errorf("last step %d", lastStep)
	}

	// The learning rate follows the seed's per-epoch cosine from 0.05 to 0.001.
	var lrs []float64
	for _, r := range recs {
		if r.Kind == shared.MetricEpoch {
			lrs = append(lrs, *r.LR)
		}
	}
	if lrs[0] != 0.05 || !(lrs[1] < lrs[0] && lrs[2] < lrs[1] && lrs[3] < lrs[2] && lrs[3] > 0.001) {
		t.Errorf("per-epoch learning rates %v", lrs)
	}

	if rep.Last.Epoch != epochs || rep.Steps != epochs*iters || len(rep.History) != epochs {
		t.Errorf("report: last epoch %d, steps %d, history %d", rep.Last.Epoch, rep.Steps, len(rep.History))
	}
	if rep.Last.Test.AUC < 0.9 || rep.Last.Test.AUCCI == nil || rep.Last.Test.Bootstrap != 20 {
		t.Errorf("test report %+v: the stand-in should separate the classes, with intervals", rep.Last.Test)
	}
	var fromFile layout.Report
	b, err := os.ReadFile(filepath.Join(out, layout.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fromFile); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&fromFile, rep) {
		t.Error("report.json differs from the returned report")
	}
	md, _ := os.ReadFile(filepath.Join(out, layout.ReportMD))
	for _, want := range []string{"last (the seed's choice)", "best validation AUC", "## Last epoch (epoch 4", "ROC AUC"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}

	// The checkpoint loads, records its normalisation and config, and
	// scores val as the report says.
	ck, err := LoadCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	if !ck.HasHead || ck.Sidecar.Epoch != epochs || ck.Sidecar.Step != epochs*iters || ck.Config == nil {
		t.Fatalf("checkpoint: head %v, sidecar %+v, config %v", ck.HasHead, ck.Sidecar, ck.Config)
	}
	if ck.Norm != loadRunNorm(t, cfg) {
		t.Errorf("checkpoint normalisation %+v differs from the run's", ck.Norm)
	}
	if ck.Config.Input.DataPath != dataDir || ck.Config.Experiment.Seed != 5 {
		t.Errorf("sidecar config: data %q seed %d", ck.Config.Input.DataPath, ck.Config.Experiment.Seed)
	}
	m, err := ssltest.NewLogReg(ck.Params)
	if err != nil {
		t.Fatal(err)
	}
	val, err := LoadSet(dataDir, mustSplits(t, dataDir).Val, 32, ck.Norm)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvaluateSet(context.Background(), m, val, eval.Options{Threshold: 0.5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.AUC != rep.Last.Val.AUC || got.Accuracy != rep.Last.Val.Accuracy {
		t.Errorf("reloaded checkpoint scores val AUC %v acc %v, the report says %v %v", got.AUC, got.Accuracy, rep.Last.Val.AUC, rep.Last.Val.Accuracy)
	}
}

// loadRunNorm is the normalisation a supervised run of cfg uses.
func loadRunNorm(t *testing.T, cfg *config.Config) augment.Normalization {
	t.Helper()
	n, err := StatsNormalization(cfg.Input.DataPath, mustSplits(t, cfg.Input.DataPath), 32)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The same seed trains the same weights; another seed, or weight decay,
// other ones.
func TestSeededRunsAreReproducible(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, smallSpec)
	heads := map[string][]float32{}
	for _, tc := range []struct {
		name string
		seed uint64
		wd   float64
	}{{"a", 5, 0}, {"b", 5, 0}, {"c", 6, 0}, {"d", 5, 0.5}} {
		out := filepath.Join(t.TempDir(), tc.name)
		cfg := testConfig(t, dataDir, out, func(c *config.Config) {
			c.Experiment.Seed, c.Train.Epochs = tc.seed, 2
			c.Optimizer.Name, c.Optimizer.InitWD, c.Optimizer.FinalWD = "AdamW", tc.wd, tc.wd
		})
		if _, _, err := train(t, cfg, Options{}, nil); err != nil {
			t.Fatal(err)
		}
		heads[tc.name] = readTensors(t, lastModel(out))["head.weight"]
	}
	if !equalBits(heads["a"], heads["b"]) {
		t.Error("two runs with seed 5 differ")
	}
	if equalBits(heads["a"], heads["c"]) {
		t.Error("seeds 5 and 6 train the same weights")
	}
	if equalBits(heads["a"], heads["d"]) {
		t.Error("weight decay 0.5 changes nothing")
	}
}

func TestStopSavesACheckpoint(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, smallSpec)
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, dataDir, out, func(c *config.Config) { c.Experiment.LogFreq = 100 })
	_, seen, err := train(t, cfg, Options{}, func(r shared.Metric) bool { return r.Kind == shared.MetricStep && r.Step == 4 })
	if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "step 4 of 12 (epoch 2 of 4)") {
		t.Fatalf("err = %v", err)
	}
	st, err := ckpt.LoadState(filepath.Join(out, layout.LastDir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 4 || st.Epoch != 1 || st.OptimStep != 4 || len(st.RNG) == 0 || len(st.Optim) != 4 {
		t.Errorf("state: step %d epoch %d optimiser %d rng %d bytes, %d buffers", st.Step, st.Epoch, st.OptimStep, len(st.RNG), len(st.Optim))
	}
	ck, err := LoadCheckpoint(lastModel(out))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Sidecar.Step != 4 || !ck.HasHead {
		t.Errorf("checkpoint step %d", ck.Sidecar.Step)
	}
	if last := seen[len(seen)-1]; last.Kind != shared.MetricLog || !strings.Contains(last.Message, "stopped") {
		t.Errorf("last record %+v does not say the run stopped", last)
	}
	if layout.IsFile(filepath.Join(out, layout.ReportJSON)) {
		t.Error("a stopped run wrote a report")
	}
}

// With val and test lenses only faintly brighter than non-lenses, the val
// AUC wanders as the head trains and peaks before the last epoch: the
// report then evaluates the best checkpoint, not the last weights.
func TestBestAndLastEpochs(t *testing.T) {
	spec := smallSpec
	spec.Val.Signal, spec.Test.Signal = 0.05, 0.05
	dataDir, splits := ssltest.TempDataset(t, spec)
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, dataDir, out, func(c *config.Config) { c.Train.Epochs = 5 })
	rep, _, err := train(t, cfg, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, best, err := eval.SelectBest(rep.History)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Best.Epoch != best.Epoch || rep.Last.Epoch != 5 || rep.Best.Epoch == rep.Last.Epoch {
		t.Fatalf("best epoch %d (history says %d), last %d: want an earlier best; history %+v", rep.Best.Epoch, best.Epoch, rep.Last.Epoch, rep.History)
	}
	if rep.Best.Val.AUC != best.ValAUC || rep.Best.Val.AUC <= rep.Last.Val.AUC {
		t.Errorf("best val AUC %v, history %v, last %v", rep.Best.Val.AUC, best.ValAUC, rep.Last.Val.AUC)
	}
	if rep.Best.Checkpoint != layout.BestDir || rep.Last.Checkpoint != layout.LastDir {
		t.Errorf("checkpoints %q %q", rep.Best.Checkpoint, rep.Last.Checkpoint)
	}
	sc, ok, err := readSidecar(filepath.Join(out, layout.BestDir))
	if err != nil || !ok || sc.Epoch != best.Epoch || sc.Metrics["val_auc"] != best.ValAUC {
		t.Fatalf("best sidecar %+v (%v, %v)", sc, ok, err)
	}
	// Each test report is that checkpoint's, scored afresh.
	opts := eval.Options{Threshold: 0.5, Bootstrap: 20, Seed: 5}
	for _, mr := range []layout.ModelReport{rep.Best, rep.Last} {
		ck, err := LoadCheckpoint(filepath.Join(out, mr.Checkpoint))
		if err != nil {
			t.Fatal(err)
		}
		m, err := ssltest.NewLogReg(ck.Params)
		if err != nil {
			t.Fatal(err)
		}
		test, err := LoadSet(dataDir, splits.Test, 32, ck.Norm)
		if err != nil {
			t.Fatal(err)
		}
		want, err := EvaluateSet(context.Background(), m, test, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(mr.Test, want) {
			t.Errorf("%s: test report AUC %v, its checkpoint scores %v", mr.Checkpoint, mr.Test.AUC, want.AUC)
		}
	}
	if reflect.DeepEqual(rep.Best.Test, rep.Last.Test) {
		t.Error("best and last test reports are identical")
	}
}

func TestRunRefusals(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, smallSpec)
	done := filepath.Join(t.TempDir(), "done")
	cfg := testConfig(t, dataDir, done, func(c *config.Config) { c.Train.Epochs = 1 })
	if _, _, err := train(t, cfg, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	dino := *testConfig(t, dataDir, t.TempDir(), nil)
	dino.Experiment.Method = config.DINO
	for _, tc := range []struct {
		name string
		cfg  *config.Config
		opt  Options
		want string
	}{
		{"fresh run into a used folder", testConfig(t, dataDir, done, nil), Options{}, "holds a run already"},
		{"resume of a finished run", cfg, Options{Resume: done}, "finished all 1 epochs"},
		{"resume with another config", testConfig(t, dataDir, done, func(c *config.Config) { c.Train.Epochs = 1; c.Train.BatchSize = 8 }),
			Options{Resume: done}, `train args: the run has "batch_size: 16", the config "batch_size: 8"`},
		{"resume of no run", cfg, Options{Resume: dataDir}, "not a run folder"},
		{"self-supervised config", &dino, Options{}, "not a classifier run"},
		{"split without val lenses", testConfig(t, writeSpec(t, ssltest.Spec{Train: smallSpec.Train, Val: ssltest.Split{NonLenses: 3},
			Test: smallSpec.Test, Size: 32}), t.TempDir(), nil), Options{}, "the val images have 0 lenses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClassifierRun(tc.cfg, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// writeSpec writes a dataset and returns its folder.
func writeSpec(t *testing.T, spec ssltest.Spec) string {
	dir, _ := ssltest.TempDataset(t, spec)
	return dir
}

// The simulator's datasets (64 px stamps, indices.pkl and splits.json)
// train as they are.
func TestTrainOnSimulatedData(t *testing.T) {
	sc, err := sim.DefaultConfig("hsc", "small")
	if err != nil {
		t.Fatal(err)
	}
	sc.Counts = sim.Counts{Train: sim.SplitCounts{Lenses: 12, NonLenses: 12},
		Val: sim.SplitCounts{Lenses: 4, NonLenses: 4}, Test: sim.SplitCounts{Lenses: 4, NonLenses: 4}}
	dataDir := t.TempDir()
	if _, err := sim.WriteDataset(dataDir, sc, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	rep, _, err := train(t, testConfig(t, dataDir, out, func(c *config.Config) { c.Train.Epochs = 2 }), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.TrainImages != 24 || rep.Last.Test.N != 8 || rep.Steps != 4 {
		t.Errorf("report: %d train images, %d test images, %d steps", rep.TrainImages, rep.Last.Test.N, rep.Steps)
	}
	st, err := data.LoadStats(dataDir, mustSplits(t, dataDir), 32)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Normalization.Mean[1] != float64(float32(st.Mean[1])) || rep.Normalization.Std[2] != float64(float32(st.Std[2])) {
		t.Errorf("normalisation %+v is not the train split's statistics %+v", rep.Normalization, st)
	}
}

// A crash between writing checkpoints/last and checkpoints/best of a new
// best epoch is repaired on resuming; a best checkpoint that cannot be
// restored is refused.
func TestResumeRestoresTheBestCheckpoint(t *testing.T) {
	spec := smallSpec
	spec.Val.Signal, spec.Test.Signal = 0.05, 0.05 // val AUC peaks at epoch 2 of 5 (TestBestAndLastEpochs)
	dataDir, _ := ssltest.TempDataset(t, spec)
	edit := func(c *config.Config) { c.Train.Epochs = 5 }
	straight := filepath.Join(t.TempDir(), "straight")
	want, _, err := train(t, testConfig(t, dataDir, straight, edit), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.Best.Epoch != 2 {
		t.Fatalf("best epoch %d, the test needs 2", want.Best.Epoch)
	}
	for _, tc := range []struct {
		name      string
		stopAfter int
		err       string
	}{
		{"lost at its own epoch", 2, ""},
		{"lost later", 3, "holds nothing, but the best validation AUC up to checkpoints/last is epoch 2's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			cfg := testConfig(t, dataDir, out, edit)
			_, _, err := train(t, cfg, Options{}, func(r shared.Metric) bool { return r.Kind == shared.MetricEpoch && r.Epoch == tc.stopAfter })
			if !errors.Is(err, ErrStopped) {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(out, layout.BestDir)); err != nil {
				t.Fatal(err)
			}
			got, _, err := train(t, cfg, Options{Resume: out}, nil)
			if wantError(t, err, tc.err) {
				return
			}
			if !reflect.DeepEqual(got.Best, want.Best) {
				t.Errorf("best after the repair: epoch %d, test AUC %v; want epoch %d, %v", got.Best.Epoch, got.Best.Test.AUC, want.Best.Epoch, want.Best.Test.AUC)
			}
			a, b := readTensors(t, filepath.Join(straight, layout.BestDir, layout.ModelFile)), readTensors(t, filepath.Join(out, layout.BestDir, layout.ModelFile))
			if !equalBits(a["head.weight"], b["head.weight"]) {
				t.Error("repaired best checkpoint differs")
			}
		})
	}
}
