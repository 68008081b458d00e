package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/gpu"
)

// TestDeviceFlag checks --device on eval, score and embed: a misspelt
// value is refused by name, and on a machine without the NVIDIA driver
// cuda is refused before any input is read or output written, naming the
// driver library; cpu runs as before.
func TestDeviceFlag(t *testing.T) {
	run, dataDir := trainedRun(t)
	ctx := context.Background()
	lenses := filepath.Join(dataDir, "lenses")
	// Each case writes into its own folder of outs.
	outs := []string{t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()}
	cases := []struct {
		name string
		fn   runFunc
		args []string
	}{
		{"eval", runEval, []string{"--checkpoint", run}},
		{"score", runScore, []string{"--checkpoint", run, lenses}},
		{"score", runScore, []string{"--checkpoint", run, "--out", filepath.Join(outs[2], "scores"), lenses}},
		{"embed", runEmbed, []string{"--checkpoint", run, "--out", filepath.Join(outs[3], "e.npy")}},
	}
	_, noGPU := gpu.Available()
	for i, c := range cases {
		out := outs[i]
		if _, _, err := runCmd(t, ctx, c.name, c.fn, append(c.args, "--device", "tpu")...); err == nil ||
			!strings.Contains(err.Error(), `--device: device "tpu": want cpu, cuda or cuda:N`) {
			t.Errorf("%s --device tpu: %v", c.name, err)
		}
		_, _, err := runCmd(t, ctx, c.name, c.fn, append(c.args, "--device", "cuda:7")...)
		switch {
		case noGPU != nil && (err == nil || !strings.Contains(err.Error(), "device cuda:7: cuda: the NVIDIA driver (libcuda) not found: looked for libcuda.so.1")):
			t.Errorf("%s --device cuda:7 without a driver: %v", c.name, err)
		case noGPU == nil && (err == nil || !strings.Contains(err.Error(), "this machine has")):
			t.Errorf("%s --device cuda:7: %v", c.name, err)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%s --device cuda:7 left %s", c.name, entries[0].Name())
		}
		if _, stderr, err := runCmd(t, ctx, c.name, c.fn, append(c.args, "--device", "cpu")...); err != nil {
			t.Errorf("%s --device cpu: %v\n%s", c.name, err, stderr)
		}
	}
}

// TestTrainingDevice checks --device on the training commands: finetune
// on cuda without a GPU stops before the run folder is made, naming the
// driver; pretraining on cuda is refused for now, naming what runs on the
// GPU; a misspelt value is refused by name.
func TestTrainingDevice(t *testing.T) {
	ctx := context.Background()
	run := filepath.Join(t.TempDir(), "run")
	cfg, _ := classifierData(t, run)
	_, noGPU := gpu.Available()
	_, _, err := runCmd(t, ctx, "finetune", runFinetune, cfg, "--device", "cuda")
	if noGPU != nil {
		if err == nil || !strings.Contains(err.Error(), "device cuda:0: cuda: the NVIDIA driver (libcuda) not found") {
			t.Errorf("finetune --device cuda without a driver: %v", err)
		}
		if _, statErr := os.Stat(run); statErr == nil {
			t.Errorf("finetune --device cuda without a driver made %s", run)
		}
	}
	if _, _, err := runCmd(t, ctx, "finetune", runFinetune, cfg, "--device", "gpu"); err == nil ||
		!strings.Contains(err.Error(), `--device: device "gpu": want cpu, cuda or cuda:N`) {
		t.Errorf("finetune --device gpu: %v", err)
	}
	pre := referenceConfig("dino-vit-small.yaml")
	if _, _, err := runCmd(t, ctx, "pretrain", runPretrain, pre, "--data", pretrainData(t), "--device", "cuda:1"); err == nil ||
		!strings.Contains(err.Error(), "--device: cuda:1: dino pretraining does not run on a GPU yet") {
		t.Errorf("pretrain --device cuda:1: %v", err)
	}
	// A dry run without data still checks the device.
	if _, _, err := runCmd(t, ctx, "pretrain", runPretrain, pre, "--dry-run", "--device", "cuda"); err == nil ||
		!strings.Contains(err.Error(), "does not run on a GPU yet") {
		t.Errorf("pretrain --dry-run --device cuda: %v", err)
	}
}

// TestGPUsCommand checks `sslens gpus` on this machine: without the
// driver it fails naming what it looked for; with one it lists the GPUs.
func TestGPUsCommand(t *testing.T) {
	var out strings.Builder
	err := runGPUs(newFlagSet(commands["gpus"], io.Discard), nil, &out)
	if _, noGPU := gpu.Available(); noGPU != nil {
		if err == nil || !strings.Contains(err.Error(), "libcuda.so.1") {
			t.Errorf("sslens gpus without a driver: %v\n%s", err, out.String())
		}
		return
	}
	if err != nil || !strings.Contains(out.String(), "cuda:0 ") || !strings.Contains(out.String(), "ready in") {
		t.Errorf("sslens gpus: %v\n%s", err, out.String())
	}
}

// TestReproduceOnGPUWithoutOne checks a reproduce config whose fine-tune
// cells train on cuda (finetune.overrides) on a machine without a GPU: it
// stops before the first cell, naming the cell and the driver, with no
// cell folder made.
func TestReproduceOnGPUWithoutOne(t *testing.T) {
	if _, err := gpu.Available(); err == nil {
		t.Skip("this machine has a GPU")
	}
	cfg := reproduceData(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "    optimizer: {init_lr: 0.05}", "    optimizer: {init_lr: 0.05}\n    experiment: {device: cuda}", 1)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runReproduceCmd(t, context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "finetune supervised vit_nano 300 labels seed 0: device cuda:0: cuda: the NVIDIA driver") {
		t.Errorf("reproduce with GPU fine-tunes and no GPU: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "cells")); err == nil {
		t.Error("cells were made before the device was checked")
	}
}

// score --out calls the model with 1024 images at a time on a GPU unless
// --batch says otherwise; the CPU keeps 64.
func TestScoreBatchOnGPU(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--device", "cuda"}, 1024},
		{[]string{"--device", "cuda:1", "--batch", "32"}, 32},
		{[]string{"--device", "cpu"}, 64},
		{nil, 64},
	} {
		fs := newFlagSet(commands["score"], io.Discard)
		var st streamFlags
		st.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := scoreBatch(fs, st.device, st.batch); got != tc.want {
			t.Errorf("%v: batch %d, want %d", tc.args, got, tc.want)
		}
	}
}
