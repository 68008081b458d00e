package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/backend/ssl/ssltest"
)

// reproduceData writes a dataset with the 300 train images a 300-label
// cell needs and a reproduce config (supervised and dino, 300 and all
// labels, one seed) with its dino base config; it returns the config.
func reproduceData(t *testing.T) string {
	t.Helper()
	dataDir := t.TempDir()
	if _, err := ssltest.WriteDataset(dataDir, ssltest.Spec{
		Train: ssltest.Split{Lenses: 160, NonLenses: 160, Signal: 0.2},
		Val:   ssltest.Split{Lenses: 6, NonLenses: 6, Signal: 0.2},
		Test:  ssltest.Split{Lenses: 10, NonLenses: 10, Signal: 0.2},
		Size:  32, Seed: 5,
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"dino.yaml": "experiment: {ssl_training: dino}\noptimizer: {scheduler_warmup_epochs: 0}\n",
		"matrix.yaml": fmt.Sprintf(`name: cli matrix
data path: %q
output_dir: %q
backbones: [vit_nano]
methods: [supervised, dino]
labels: [300, all]
bootstrap: 50
pretrain:
  epochs: 1
  dino: {config: dino.yaml}
finetune:
  epochs: 2
  overrides:
    optimizer: {init_lr: 0.05}
    train args: {batch_size: 40}
`, dataDir, filepath.Join(dir, "cells")),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "matrix.yaml")
}

// fakePretrain leaves a random backbone and the config where a
// pretraining would.
func fakePretrain(_ context.Context, cfg *config.Config, _ ssl.Options) error {
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Experiment.OutputDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Experiment.OutputDir, ssl.ConfigFile), y, 0o644); err != nil {
		return err
	}
	p, err := cfg.Preset()
	if err != nil {
		return err
	}
	ps, err := vit.New(p, 0, rand.New(rand.NewPCG(cfg.Experiment.Seed, 1)))
	if err != nil {
		return err
	}
	norm := ckpt.Normalization{Mean: [3]float64{0.2, 0.7, 1.3}, Std: [3]float64{0.3, 0.3, 0.3}}
	return ckpt.Save(filepath.Join(cfg.Experiment.OutputDir, ssl.LastDir, ssl.ModelFile), ckpt.ParamTensors(ps),
		ckpt.Sidecar{Preset: p.Name, Epoch: cfg.Train.Epochs, Normalization: norm})
}

func runReproduceCmd(t *testing.T, ctx context.Context, pretrain ssl.PretrainFunc, args ...string) (string, string, error) {
	t.Helper()
	e, out, errOut := fakeEnv()
	err := runReproduce(ctx, newFlagSet(commands["reproduce"], errOut), args, e, pretrain)
	return out.String(), errOut.String(), err
}

func TestReproduceCommand(t *testing.T) {
	cfg := reproduceData(t)
	results := filepath.Join(t.TempDir(), "results")
	stdout, stderr, err := runReproduceCmd(t, context.Background(), fakePretrain, cfg, "--results", results)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	cells := filepath.Join(filepath.Dir(cfg), "cells")
	for _, want := range []string{
		"[1/5] finetune supervised vit_nano 300 labels seed 0: started in " + filepath.Join(cells, "finetune", "supervised_vit_nano_300_seed0"),
		"[3/5] pretrain dino vit_nano seed 0: started in ",
		"[5/5] finetune dino vit_nano all labels seed 0: finished in ",
		"epoch 2/2  step 16/16  loss ", // the classifiers' log lines, as sslens finetune writes them
		"backbone from " + filepath.Join(cells, "pretrain", "dino_vit_nano_seed0", ssl.LastDir, ssl.ModelFile),
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, want := range []string{"# cli matrix", "| dino | vit_nano |", "| supervised † | vit_small | 89.71% |", "With one seed, the intervals cover",
		"results: results.md, results.json and 2 ROC plots in " + results} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(filepath.Join(results, ssl.ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	var res ssl.ReproduceResults
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if want := "sslens reproduce " + cfg + " --results " + results; res.Command != want || len(res.Rows) != 4 {
		t.Errorf("results.json: command %q (want %q), %d rows", res.Command, want, len(res.Rows))
	}
	for _, f := range []string{ssl.ResultsMD, "roc-vit_nano-300.png", "roc-vit_nano-all.png"} {
		if _, err := os.Stat(filepath.Join(results, f)); err != nil {
			t.Error(err)
		}
	}

	// The same command again: every cell is skipped.
	_, stderr, err = runReproduceCmd(t, context.Background(), fakePretrain, cfg, "--results", results)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr, ": skipped"); n != 5 || strings.Contains(stderr, "started") {
		t.Errorf("second run: %d cells skipped:\n%s", n, stderr)
	}
}

// A stopped reproduction says how to continue, and the error carries
// ErrStopped (exit 130).
func TestReproduceCommandStops(t *testing.T) {
	cfg := reproduceData(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := runReproduceCmd(t, ctx, fakePretrain, cfg)
	if !errors.Is(err, ssl.ErrStopped) || !strings.Contains(err.Error(), "resume with: sslens reproduce "+cfg) {
		t.Fatalf("err = %v", err)
	}
}

// --dry-run lists the cells; without a config it is the shipped CPU
// preset's.
func TestReproduceDryRun(t *testing.T) {
	stdout, _, err := runReproduceCmd(t, context.Background(), nil, "--dry-run", "--data", "/data", "--out", "/cells")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 38 || !strings.Contains(lines[0], "finetune supervised vit_nano 300 labels seed 0") ||
		!strings.Contains(lines[4], "pretrain dino vit_nano seed 0") || !strings.HasSuffix(lines[4], "/cells/pretrain/dino_vit_nano_seed0") {
		t.Errorf("dry run of the CPU preset:\n%s", stdout)
	}
}

func TestReproduceUsage(t *testing.T) {
	cfg := reproduceData(t)
	for _, tc := range []struct {
		name     string
		pretrain ssl.PretrainFunc
		args     []string
		want     string
	}{
		{"two configs", fakePretrain, []string{cfg, cfg}, "want at most one REPRODUCE.yaml"},
		{"missing config", fakePretrain, []string{filepath.Join(t.TempDir(), "none.yaml")}, "no such file"},
		{"unknown flag", fakePretrain, []string{cfg, "--epochs", "3"}, "flag provided but not defined: -epochs"},
		{"no data", fakePretrain, []string{"--out", t.TempDir()}, "data path: empty; set it in the reproduce config or pass --data DIR"},
		{"no pretraining", nil, []string{cfg}, "methods lists dino, but this build cannot pretrain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runReproduceCmd(t, context.Background(), tc.pretrain, tc.args...)
			if err == nil || !strings.Contains(err.Error()+stderr, tc.want) {
				t.Fatalf("err = %v, stderr %q; want %q", err, stderr, tc.want)
			}
		})
	}
}

func TestCommandLineQuotes(t *testing.T) {
	got := commandLine([]string{"configs/reproduce-cpu.yaml", "--data", "my data", "--out", ""})
	if want := `sslens reproduce configs/reproduce-cpu.yaml --data "my data" --out ""`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPretrainLine(t *testing.T) {
	loss, acc := 1.25, 0.5
	for _, tc := range []struct {
		r    ssl.Record
		want string
	}{
		{ssl.Record{Kind: ssl.KindStep, Loss: &loss}, ""},
		{ssl.Record{Kind: ssl.KindEpoch, Epoch: 2, TotalEpochs: 5, Step: 8, TotalSteps: 20, Loss: &loss}, "epoch 2/5  step 8/20  loss 1.2500"},
		{ssl.Record{Kind: ssl.KindEval, Epoch: 5, Split: "val", Accuracy: &acc, Message: "kNN"}, "epoch 5 val:  accuracy 0.5000  kNN"},
		{ssl.Record{Kind: ssl.KindWarning, Message: "collapse"}, "warning: collapse"},
		{ssl.Record{Kind: ssl.KindLog, Message: "saved"}, "saved"},
	} {
		if got := pretrainLine(tc.r); got != tc.want {
			t.Errorf("%s record: %q, want %q", tc.r.Kind, got, tc.want)
		}
	}
}
