package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/ssl"
)

// fixture is a file of backend/nn/pretrained's PyTorch-written fixtures.
func fixture(name string) string {
	return filepath.Join("..", "..", "nn", "pretrained", "testdata", name)
}

// TestImportWeightsThenFinetune imports DINO's teacher from a checkpoint
// and fine-tunes a classifier from it with --checkpoint.
func TestImportWeightsThenFinetune(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "dino")
	stdout, stderr, err := runCmd(t, ctx, "import-weights", runImportWeights, fixture("dino_vit_p8_224.pth"), "--out", dir, "--heads", "3")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{`pytorch state dict at "teacher", prefix "backbone."`,
		"custom architecture vit_d48_depth2_heads3 (width 48, depth 2, 3 heads, patch 8)", "took 30 tensors, left out 8: head.mlp.0.weight",
		"pos_embed: 28x28 -> 4x4", "input channels: bands i,r,g on the source's R, G, B", "--checkpoint " + dir} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}

	run := filepath.Join(t.TempDir(), "run")
	cfg, _ := classifierData(t, run)
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "ssl_training: supervised", "ssl_training: finetune", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runCmd(t, ctx, "finetune", runFinetune, cfg, "--checkpoint", dir); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	} else {
		for _, want := range []string{"backbone architecture vit_d48_depth2_heads3 from", "imported weights carry no normalisation"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("finetune log lacks %q:\n%s", want, stderr)
			}
		}
	}
	ck, err := ssl.LoadCheckpoint(run)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Params.Preset.Name != "vit_d48_depth2_heads3" || !ck.HasHead {
		t.Errorf("fine-tuned checkpoint: %s, head %v", ck.Params.Preset.Name, ck.HasHead)
	}
}

func TestImportWeightsRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{fixture("malicious.pth"), "--out", filepath.Join(t.TempDir(), "m")}, "refusing the global posix.system"},
		{[]string{fixture("patch16_vit_224.pth"), "--out", filepath.Join(t.TempDir(), "p")}, "patch size 16"},
		{[]string{fixture("timm_vit_p8_224.safetensors")}, "want one SRC and --out DIR"},
	} {
		_, stderr, err := runCmd(t, ctx, "import-weights", runImportWeights, tc.args...)
		if err == nil || !strings.Contains(err.Error()+stderr, tc.want) {
			t.Errorf("%v: error %v, stderr %q, want %q", tc.args, err, stderr, tc.want)
		}
		if strings.Contains(tc.want, "SRC") && !errors.Is(err, errUsage) {
			t.Errorf("%v: %v is not a usage error", tc.args, err)
		}
	}
}
