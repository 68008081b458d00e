package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/jobs/jobstest"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

// reproduceData writes a dataset with the 300 train images a 300-label
// cell needs and a reproduce config (supervised and dino, 300 and all
// labels, one seed) with its dino base config; it returns the config.
func reproduceData(t *testing.T) string {
	t.Helper()
	dataDir, _ := ssltest.TempDataset(t, ssltest.Spec{
		Train: ssltest.Split{Lenses: 160, NonLenses: 160, Signal: 0.2},
		Val:   ssltest.Split{Lenses: 6, NonLenses: 6, Signal: 0.2},
		Test:  ssltest.Split{Lenses: 10, NonLenses: 10, Signal: 0.2},
		Size:  32, Seed: 5,
	})
	dir := t.TempDir()
	files := map[string]string{
		"dino.yaml": "experiment: {ssl_training: dino}\noptimizer: {scheduler_warmup_epochs: 0}\n" +
			"ssl augmentation kwargs: {num_local_crops: 2, local_crop_size: 16}\n",
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

func runReproduceCmd(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	e, out, errOut := fakeEnv()
	err := runReproduce(ctx, newFlagSet(commands["reproduce"], errOut), args, e)
	return out.String(), errOut.String(), err
}

func TestReproduceCommand(t *testing.T) {
	cfg := reproduceData(t)
	results := filepath.Join(t.TempDir(), "results")
	stdout, stderr, err := runReproduceCmd(t, context.Background(), cfg, "--results", results)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	cells := filepath.Join(filepath.Dir(cfg), "cells")
	for _, want := range []string{
		"[1/5] finetune supervised vit_nano 300 labels seed 0: started in " + filepath.Join(cells, "finetune", "supervised_vit_nano_300_seed0"),
		"[3/5] pretrain dino vit_nano seed 0: started in ",
		"[5/5] finetune dino vit_nano all labels seed 0: finished in ",
		"epoch 2/2  step 16/16  loss ",                                                                                 // the classifiers' log lines, as sslens finetune writes them
		"backbone from " + layout.Run(filepath.Join(cells, "pretrain", "dino_vit_nano_seed0")).Student(layout.LastDir), // the student, as the reference
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, want := range []string{"# cli matrix", "| dino | vit_nano |", "| supervised † | vit_small | 89.71% |", "With one seed the interval covers the test images only",
		"results: results.md, results.json and 2 ROC plots in " + results} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	res, err := layout.ReadResults(results)
	if err != nil {
		t.Fatal(err)
	}
	if want := "sslens reproduce " + cfg + " --results " + results; res.Command != want || len(res.Rows) != 4 {
		t.Errorf("results.json: command %q (want %q), %d rows", res.Command, want, len(res.Rows))
	}
	for _, f := range []string{layout.ResultsMD, "roc-vit_nano-300.png", "roc-vit_nano-all.png"} {
		if _, err := os.Stat(filepath.Join(results, f)); err != nil {
			t.Error(err)
		}
	}

	// The same command again: every cell is skipped.
	_, stderr, err = runReproduceCmd(t, context.Background(), cfg, "--results", results)
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
	_, _, err := runReproduceCmd(t, ctx, cfg)
	if !errors.Is(err, ssl.ErrStopped) || !strings.Contains(err.Error(), "resume with: sslens reproduce "+cfg) {
		t.Fatalf("err = %v", err)
	}
}

// --dry-run lists the cells; without a config it is the shipped CPU
// preset's.
func TestReproduceDryRun(t *testing.T) {
	stdout, _, err := runReproduceCmd(t, context.Background(), "--dry-run", "--data", "/data", "--out", "/cells")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 57 || !strings.Contains(lines[0], "finetune supervised vit_nano 300 labels seed 0") ||
		!strings.Contains(lines[4], "pretrain dino vit_nano seed 0") || !strings.HasSuffix(lines[4], "/cells/pretrain/dino_vit_nano_seed0") {
		t.Errorf("dry run of the CPU preset:\n%s", stdout)
	}
}

func TestReproduceUsage(t *testing.T) {
	cfg := reproduceData(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"two configs", []string{cfg, cfg}, "want at most one REPRODUCE.yaml"},
		{"missing config", []string{filepath.Join(t.TempDir(), "none.yaml")}, "no such file"},
		{"unknown flag", []string{cfg, "--epochs", "3"}, "flag provided but not defined: -epochs"},
		{"no data", []string{"--out", t.TempDir()}, "data path: empty; set it in the reproduce config or pass --data DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runReproduceCmd(t, context.Background(), tc.args...)
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
		r    shared.Metric
		want string
	}{
		{shared.Metric{Kind: shared.MetricStep, Loss: &loss}, ""},
		{shared.Metric{Kind: shared.MetricEpoch, Epoch: 2, TotalEpochs: 5, Step: 8, TotalSteps: 20, Loss: &loss}, "epoch 2/5  step 8/20  loss 1.2500"},
		{shared.Metric{Kind: shared.MetricEval, Epoch: 5, Split: "val", Accuracy: &acc, Message: "kNN"}, "epoch 5 val:  accuracy 0.5000  kNN"},
		{shared.Metric{Kind: shared.MetricWarning, Message: "collapse"}, "warning: collapse"},
		{shared.Metric{Kind: shared.MetricLog, Message: "saved"}, "saved"},
	} {
		if got := pretrainLine(tc.r); got != tc.want {
			t.Errorf("%s record: %q, want %q", tc.r.Kind, got, tc.want)
		}
	}
}

// With --executor slurm every cell is a Slurm job, the fine-tunes of the
// pretrained backbone after its pretraining; the command follows them and
// writes the results as a local run does, and running it again skips every
// cell. Needs a Slurm cluster (backend/jobs/slurm/single-node.sh).
func TestReproduceOnSlurm(t *testing.T) {
	jobstest.NeedSlurm(t)
	exe := buildSSLens(t)
	cfg := reproduceData(t)
	results := filepath.Join(t.TempDir(), "results")
	out, err := exec.Command(exe, "reproduce", cfg, "--results", results, "--executor", "slurm").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	pre := regexp.MustCompile(`\[3/5\] pretrain dino vit_nano seed 0: submitted as slurm job (\d+)`).FindStringSubmatch(text)
	if pre == nil {
		t.Fatalf("the pretraining was not submitted:\n%s", text)
	}
	for _, want := range []string{
		"[1/5] finetune supervised vit_nano 300 labels seed 0: submitted as slurm job ",
		"[4/5] finetune dino vit_nano 300 labels seed 0: submitted as slurm job ",
		", after slurm job " + pre[1],
		"finetune dino vit_nano all labels seed 0: finished on Slurm",
		"results: results.md, results.json and 2 ROC plots in " + results,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, ", after slurm job "+pre[1]); n != 2 {
		t.Errorf("%d fine-tunes wait for the pretraining, want 2:\n%s", n, text)
	}
	res, err := layout.ReadResults(results)
	if err != nil || len(res.Rows) != 4 {
		t.Fatalf("results: %v, %+v", err, res)
	}
	again, err := exec.Command(exe, "reproduce", cfg, "--results", results, "--executor", "slurm").CombinedOutput()
	if err != nil || strings.Contains(string(again), "submitted") || strings.Count(string(again), ": skipped") != 5 {
		t.Errorf("second run (%v) resubmitted or did not skip:\n%s", err, again)
	}
}
