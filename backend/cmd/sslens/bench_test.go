package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runBenchCmd runs `sslens bench ARGS...` and returns stdout and the error.
func runBenchCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runBench(newFlagSet(commands["bench"], &errOut), args, &out)
	return out.String(), err
}

// TestBenchCommand times vit_nano for one step: the flags reach the
// harness (backend/nn/bench, which tests the report and the peer).
func TestBenchCommand(t *testing.T) {
	out, err := runBenchCmd(t, "--presets", "vit_nano", "--batch", "2", "--steps", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"batch 2, median of 1 steps", "vit_nano (D 128, depth 6, 4 heads): "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ours / torch") {
		t.Errorf("the peer ran without --vs-torch:\n%s", out)
	}
}

// TestBenchErrors checks bad usage, a missing torch and an unknown preset.
func TestBenchErrors(t *testing.T) {
	dir := t.TempDir()
	noTorch := filepath.Join(dir, "python3")
	if err := os.WriteFile(noTorch, []byte("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2; exit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"--batch", "-1"}, true, ""},
		{[]string{"--steps", "-1"}, true, ""},
		{[]string{"extra"}, true, ""},
		{[]string{"--presets", "vit_huge"}, false, `unknown preset "vit_huge"`},
		{[]string{"--preset", "vit_nano"}, true, ""},
		{[]string{"--method", "byol"}, false, `--method "byol": want dino, ibot or simsiam`},
		{[]string{"--method", "dino", "--preset", "vit_huge"}, false, `unknown preset "vit_huge"`},
		{[]string{"--device", "cuda", "--method", "dino"}, true, ""},
		{[]string{"--device", "tpu"}, false, `--device: device "tpu": want cpu, cuda or cuda:N`},
		{[]string{"--presets", "vit_nano", "--vs-torch", "--python", noTorch}, false, "needs PyTorch for " + noTorch + " (on Debian: apt-get install python3-torch): ModuleNotFoundError: No module named 'torch'"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := runBenchCmd(t, tc.args...)
			switch {
			case tc.usage && !errors.Is(err, errUsage):
				t.Errorf("got %v, want the usage error", err)
			case !tc.usage && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestBenchMethod times SimSiam's reference step on ViT-N/8 for one step:
// the config's batch of 512 is capped and said so, the backbone replaced.
func TestBenchMethod(t *testing.T) {
	out, err := runBenchCmd(t, "--method", "simsiam", "--preset", "vit_nano", "--steps", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"simsiam: batch 32 instead of the config's 512", "median of 1 pretraining steps",
		"simsiam vit_nano (D 128, depth 6, 4 heads), batch 32, crops 2x32 px: ", "peak RSS "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
