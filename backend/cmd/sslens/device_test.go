package main

import (
	"context"
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
