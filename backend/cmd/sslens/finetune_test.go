package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/backend/ssl/ssltest"
)

// fakeEnv writes to buffers and builds the stand-in classifier of
// backend/ssl/ssltest instead of the ViT.
func fakeEnv() (env, *bytes.Buffer, *bytes.Buffer) {
	e, out, errOut, _ := recordingEnv()
	return e, out, errOut
}

// recordingEnv is fakeEnv that also keeps the options of every model built.
func recordingEnv() (env, *bytes.Buffer, *bytes.Buffer, *[]modelOptions) {
	var out, errOut bytes.Buffer
	var built []modelOptions
	return env{stdout: &out, stderr: &errOut, newModel: func(ps *vit.Params, opt modelOptions) (classifier, error) {
		built = append(built, opt)
		return ssltest.NewLogReg(ps)
	}}, &out, &errOut, &built
}

type runFunc func(context.Context, *flag.FlagSet, []string, env) error

// runCmd runs command name's run function with the stand-in model and
// returns stdout, stderr (flag and usage output included) and the error.
func runCmd(t *testing.T, ctx context.Context, name string, run runFunc, args ...string) (string, string, error) {
	t.Helper()
	e, out, errOut := fakeEnv()
	fs := newFlagSet(commands[name], errOut)
	err := run(ctx, fs, args, e)
	return out.String(), errOut.String(), err
}

// classifierData writes a small separable dataset and a supervised config
// that trains on it into out; it returns the config path and data folder.
func classifierData(t *testing.T, out string) (string, string) {
	t.Helper()
	dataDir, _ := ssltest.TempDataset(t, ssltest.Spec{
		Train: ssltest.Split{Lenses: 12, NonLenses: 12, Signal: 1},
		Val:   ssltest.Split{Lenses: 5, NonLenses: 5, Signal: 1},
		Test:  ssltest.Split{Lenses: 6, NonLenses: 6, Signal: 1},
		Size:  40, Seed: 2,
	})
	cfg := filepath.Join(t.TempDir(), "supervised.yaml")
	yaml := fmt.Sprintf(`experiment: {seed: 1, ssl_training: supervised, log_freq: 1, output_dir: %q, expt_name: cli}
input: {data path: %q, image size: [32, 32]}
network: {backbone: vit_nano, drop_path: 0, attn_drop: 0}
optimizer: {optimizer: Adam, init_lr: 0.05, final_lr: 0.001}
train args: {batch_size: 8, num_epochs: 3}
finetune: {labels: all, bootstrap: 10}
`, out, dataDir)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, dataDir
}

// trainedRun runs `sslens finetune` to the end and returns the run and
// data folders.
func trainedRun(t *testing.T) (string, string) {
	t.Helper()
	run := filepath.Join(t.TempDir(), "run")
	cfg, dataDir := classifierData(t, run)
	if _, stderr, err := runCmd(t, context.Background(), "finetune", runFinetune, cfg); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	return run, dataDir
}

func TestFinetuneCommand(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	cfg, _ := classifierData(t, run)
	other := filepath.Join(t.TempDir(), "elsewhere")
	e, out, errOut, built := recordingEnv()
	err := runFinetune(context.Background(), newFlagSet(commands["finetune"], errOut), []string{cfg, "--out", other}, e)
	stdout, stderr := out.String(), errOut.String()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if len(*built) != 1 || (*built)[0] != (modelOptions{Batch: 8, Seed: 1, Device: "cpu"}) {
		t.Errorf("models built with %+v, want batch 8 (train args), seed 1 (experiment), backbone trained", *built)
	}
	for _, want := range []string{"# cli", "| last (the seed's choice) | 3 |", "run folder: " + other} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// Not a terminal: log lines for epochs and evaluations, none per step.
	for _, want := range []string{"training on all 24 train images", "epoch 3/3  step 9/9  loss ", "epoch 2 val: accuracy ",
		"best model (epoch", "saved checkpoints/last after epoch 3, step 9", "finished: last epoch 3"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "\n"); n > 40 {
		t.Errorf("%d log lines for 9 steps: steps are being logged", n)
	}
	if _, err := os.Stat(layout.Run(other).Path(layout.ReportMD)); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(run); err == nil {
		t.Error("--out did not replace experiment.output_dir")
	}
}

// A run stopped by its context saves a checkpoint and says how to resume;
// `finetune --resume RUN_DIR` (no config) finishes it.
func TestFinetuneStopAndResume(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	cfg, _ := classifierData(t, run)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := runCmd(t, ctx, "finetune", runFinetune, cfg)
	if !errors.Is(err, ssl.ErrStopped) || !strings.Contains(err.Error(), "resume with: sslens finetune --resume "+run) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(layout.Run(run).State(layout.LastDir)); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCmd(t, context.Background(), "finetune", runFinetune, "--resume", run)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "resumed from") || !strings.Contains(stdout, "run folder: "+run) {
		t.Errorf("stderr:\n%s\nstdout:\n%s", stderr, stdout)
	}
}

// --max-steps ends a smoke run with success, a checkpoint and how to
// resume; --resume without it finishes the run.
func TestFinetuneMaxSteps(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	cfg, _ := classifierData(t, run)
	stdout, stderr, err := runCmd(t, context.Background(), "finetune", runFinetune, cfg, "--max-steps", "2")
	if err != nil || !strings.Contains(stdout, "step limit reached at step 2 of 9") || !strings.Contains(stdout, "resume with: sslens finetune --resume "+run) {
		t.Fatalf("err = %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if _, err := os.Stat(layout.Run(run).State(layout.LastDir)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(layout.Run(run).Path(layout.ReportJSON)); err == nil {
		t.Error("a run ended by --max-steps wrote a final report")
	}
	if _, _, err := runCmd(t, context.Background(), "finetune", runFinetune, "--resume", run); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, context.Background(), "finetune", runFinetune, cfg, "--out", t.TempDir(), "--max-steps", "-1"); err == nil ||
		!strings.Contains(err.Error(), "max steps -1 is negative") {
		t.Errorf("negative --max-steps: %v", err)
	}
}

func TestFinetuneUsage(t *testing.T) {
	cfg, _ := classifierData(t, filepath.Join(t.TempDir(), "run"))
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error or the usage output
	}{
		{"no config", nil, "want one CONFIG, or --resume RUN_DIR"},
		{"two configs", []string{cfg, cfg}, "want one CONFIG"},
		{"unknown flag", []string{cfg, "--epochs", "3"}, "flag provided but not defined: -epochs"},
		{"missing config", []string{filepath.Join(t.TempDir(), "none.yaml")}, "no such file"},
		{"resume of nothing", []string{"--resume", t.TempDir()}, "not a run folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, context.Background(), "finetune", runFinetune, tc.args...)
			if err == nil || !strings.Contains(err.Error()+stderr, tc.want) {
				t.Fatalf("err = %v, stderr %q; want %q", err, stderr, tc.want)
			}
		})
	}
}

// On a terminal the steps drive a progress bar and the other records are
// printed as lines.
func TestFinetuneProgressBar(t *testing.T) {
	cfg, _ := classifierData(t, filepath.Join(t.TempDir(), "run"))
	e, _, errOut := fakeEnv()
	e.terminal = true
	if err := runFinetune(context.Background(), newFlagSet(commands["finetune"], errOut), []string{cfg}, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"epoch 1/3 loss ", "(1/9, ", "epoch 3/3  step 9/9"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("terminal output lacks %q:\n%q", want, errOut.String())
		}
	}
}
