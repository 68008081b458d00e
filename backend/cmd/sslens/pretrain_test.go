package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/backend/ssl/ssltest"
)

// referenceConfigs are the reference project's six configs as shipped.
var referenceConfigs = []string{
	"dino-vit-small.yaml", "dino-vit-base.yaml", "ibot-vit-small.yaml",
	"ibot-vit-base.yaml", "simsiam-vit-small.yaml", "simsiam-vit-base.yaml",
}

func referenceConfig(name string) string {
	return filepath.Join("..", "..", "..", "configs", "reference", name)
}

// pretrainData writes a tiny dataset of 32 px cutouts: 8 train images,
// two steps of 4.
func pretrainData(t *testing.T) string {
	t.Helper()
	dir, _ := ssltest.TempDataset(t, ssltest.Spec{
		Train: ssltest.Split{Lenses: 4, NonLenses: 4, Signal: 1},
		Val:   ssltest.Split{Lenses: 3, NonLenses: 3, Signal: 1},
		Test:  ssltest.Split{Lenses: 1, NonLenses: 1, Signal: 1},
		Size:  32, Seed: 9,
	})
	return dir
}

// The six reference configs train as they are, shrunk by the overrides to
// ViT-N/8, one epoch and batch 4, and leave a backbone that the classifier
// side loads.
func TestTrainReferenceConfigs(t *testing.T) {
	dataDir := pretrainData(t)
	for _, name := range referenceConfigs {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			stdout, stderr, err := runCmd(t, context.Background(), "pretrain", runPretrain, referenceConfig(name),
				"--data", dataDir, "--out", out, "--backbone", "vit_nano", "--epochs", "1", "--batch", "4")
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			wants := []string{"warning: config: experiment.device: cuda:0: " + strings.SplitN(name, "-", 2)[0] + " pretraining runs on the CPU", "epoch 1/1  step 2/2  loss ",
				"epoch 1 health: ", "epoch 1 kNN on val: accuracy ", "saved checkpoints/last after epoch 1, step 2"}
			if !strings.HasPrefix(name, "simsiam") { // the SimSiam configs have no warm-up
				wants = append(wants, "warning: config: optimizer.scheduler_warmup_epochs: 10 cut to --epochs 1")
			}
			for _, want := range wants {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if !strings.Contains(stdout, "backbone for fine-tuning: "+layout.Run(out).Model(layout.LastDir)) {
				t.Errorf("stdout:\n%s", stdout)
			}
			ck, err := ssl.LoadCheckpoint(out)
			if err != nil {
				t.Fatal(err)
			}
			if ck.HasHead || ck.Params.Preset.Name != "vit_nano" || ck.Sidecar.Epoch != 1 || ck.Config == nil || ck.Config.Train.Epochs != 1 {
				t.Errorf("checkpoint: head %t, preset %s, epoch %d, config %v", ck.HasHead, ck.Params.Preset.Name, ck.Sidecar.Epoch, ck.Config != nil)
			}
		})
	}
}

func TestTrainDryRun(t *testing.T) {
	stdout, stderr, err := runCmd(t, context.Background(), "pretrain", runPretrain, referenceConfig("ibot-vit-small.yaml"), "--dry-run", "--epochs", "5")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	resolved, err := config.Parse([]byte(stdout))
	if err != nil {
		t.Fatalf("the printed config does not load: %v\n%s", err, stdout)
	}
	if resolved.Experiment.Method != config.IBOT || resolved.Train.Epochs != 5 || resolved.Optimizer.WarmupEpochs != 5 ||
		resolved.Network.MaskConfig.Ratio != 0.3 || resolved.Augmentation.NumLocalCrops != 12 {
		t.Errorf("resolved config %+v", resolved)
	}
	for _, want := range []string{"warning: experiment.device", "warning: optimizer.scheduler_warmup_epochs: 10 cut to --epochs 5",
		"warning: optimizer.warmup_teacher_temp_epochs: 30 cut to --epochs 5", "warning: input.data path: empty", "valid: ibot on vit_small, 5 epochs of batch 128"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(resolved.Experiment.OutputDir); err == nil {
		t.Error("the dry run made the output folder")
	}
}

// Invalid configs and overrides fail before training, naming the key path.
func TestTrainRefusals(t *testing.T) {
	dataDir := pretrainData(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("experiment: {ssl_training: dino}\noptimizer: {init_lr: -1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	supervised := filepath.Join(t.TempDir(), "supervised.yaml")
	if err := os.WriteFile(supervised, []byte("experiment: {ssl_training: supervised}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"negative lr", []string{bad, "--data", dataDir}, "optimizer.init_lr: -1: want a positive number"},
		{"negative lr, dry run", []string{bad, "--dry-run"}, "optimizer.init_lr: -1"},
		{"unknown backbone", []string{referenceConfig("dino-vit-small.yaml"), "--dry-run", "--backbone", "vit_huge"}, "network.backbone: "},
		{"crop beyond the image", []string{referenceConfig("simsiam-vit-base.yaml"), "--dry-run", "--batch", "1"}, "train args.batch_size: 1"},
		{"classifier config", []string{supervised, "--data", dataDir}, `experiment.ssl_training: "supervised" is not a pretraining method`},
		{"no data", []string{referenceConfig("dino-vit-small.yaml")}, "input.data path: empty"},
		{"no config", nil, "want one CONFIG, or --resume RUN_DIR"},
		{"negative epochs", []string{referenceConfig("dino-vit-small.yaml"), "--epochs", "-2"}, "--epochs -2 is negative"},
		{"resume of nothing", []string{"--resume", t.TempDir()}, "not a run folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, context.Background(), "pretrain", runPretrain, tc.args...)
			if err == nil || !strings.Contains(err.Error()+stderr, tc.want) {
				t.Errorf("err = %v, stderr %q; want %q", err, stderr, tc.want)
			}
		})
	}
}

// A run stopped by its context saves a checkpoint and says how to resume;
// `pretrain --resume RUN_DIR` (no config) finishes it.
func TestTrainStopAndResume(t *testing.T) {
	dataDir := pretrainData(t)
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	args := []string{referenceConfig("simsiam-vit-small.yaml"), "--data", dataDir, "--out", out, "--backbone", "vit_nano", "--epochs", "2", "--batch", "4"}
	_, _, err := runCmd(t, ctx, "pretrain", runPretrain, args...)
	if !errors.Is(err, ssl.ErrStopped) || !strings.Contains(err.Error(), "resume with: sslens pretrain --resume "+out) {
		t.Fatalf("err = %v", err)
	}
	stdout, stderr, err := runCmd(t, context.Background(), "pretrain", runPretrain, "--resume", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "resumed from") || !strings.Contains(stdout, "run folder: "+out) || !strings.Contains(stderr, "epoch 2/2  step 4/4") {
		t.Errorf("stderr:\n%s\nstdout:\n%s", stderr, stdout)
	}
}
