package bench

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/gpu/gputest"
	"github.com/sslens/sslens/backend/nn/vit"
)

// fakePython writes a stand-in interpreter: `-c CODE` runs importCheck
// (shell), anything else records its arguments and the script it was given
// in dir and prints a peer line at 20 img/s.
func fakePython(t *testing.T, dir, importCheck string) string {
	t.Helper()
	path := filepath.Join(dir, "python3")
	script := fmt.Sprintf(`#!/bin/sh
if [ "$1" = "-c" ]; then %s; fi
cp "$1" %[2]s/script.py
echo "$@" > %[2]s/args
echo "loading"
echo "torch 0.0 D=$2 L=$3 H=$4 B=$5 threads=$7: 100 ms/step  20.0 img/s  1.0 GFLOP/s"
`, importCheck, dir)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func preset(t *testing.T, name string) vit.Preset {
	t.Helper()
	p, err := vit.LookupPreset(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRun times vit_nano at batch 2 against a stand-in for the torch peer
// and checks the report, the peer's arguments and script, the ratio and
// the CPU profile.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "cpu.prof")
	var buf bytes.Buffer
	c := Config{Presets: []vit.Preset{preset(t, "vit_nano")}, Batch: 2, Steps: 3, Python: fakePython(t, dir, "exit 0"), CPUProfile: profile}
	if err := Run(&buf, c); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"BLAS ", "sgemm 1088x384 by 384x1536: ", "vit_nano (D 128, depth 6, 4 heads): ", "% of sgemm", "peak RSS ",
		"CPU profile: " + profile, "torch 0.0 D=128 L=6 H=4 B=2 threads="} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`([0-9.]+) img/s .* peak RSS ([0-9]+) MB\n(?s:.*)ours / torch: ([0-9.]+)x`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no rate, RSS and ratio in:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(m[1], 64)
	rss, _ := strconv.Atoi(m[2])
	ratio, _ := strconv.ParseFloat(m[3], 64)
	if want := rate / 20; math.Abs(ratio-want) > 0.01 { // both printed rounded
		t.Errorf("ratio %s, want %.3f (%.1f img/s over the peer's 20)", m[3], want, rate)
	}
	if rate <= 0 || ratio <= 0 || rss <= 0 {
		t.Errorf("rate %g, ratio %g, RSS %d MB: want positive", rate, ratio, rss)
	}
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(args))
	if got, want := strings.Join(fields[1:], " "), fmt.Sprintf("128 6 4 2 3 %d", runtime.GOMAXPROCS(0)); got != want {
		t.Errorf("peer arguments %q, want %q", got, want)
	}
	if _, err := os.Stat(fields[0]); !os.IsNotExist(err) {
		t.Errorf("the peer script %s was left behind", fields[0])
	}
	script, err := os.ReadFile(filepath.Join(dir, "script.py"))
	if err != nil || !bytes.Equal(script, torchScript) || !bytes.Contains(script, []byte("torch.optim.AdamW")) {
		t.Errorf("the peer ran a script of %d bytes, want the embedded one (%d bytes): %v", len(script), len(torchScript), err)
	}
	if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
		t.Errorf("CPU profile: %v", err)
	}
}

// TestRunInference: --inference times forward passes and asks the peer
// for its forward pass with the same shapes.
func TestRunInference(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	c := Config{Presets: []vit.Preset{preset(t, "vit_nano")}, Batch: 2, Steps: 3, Python: fakePython(t, dir, "exit 0"), Inference: true}
	if err := Run(&buf, c); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "forward passes in evaluation mode") || !strings.Contains(out, "ours / torch: ") {
		t.Errorf("output:\n%s", out)
	}
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(strings.Fields(string(args))[1:], " "), fmt.Sprintf("--inference 128 6 4 2 3 %d", runtime.GOMAXPROCS(0)); got != want {
		t.Errorf("peer arguments %q, want %q", got, want)
	}
}

// TestNoTorch checks the error for an interpreter without torch, or none.
func TestNoTorch(t *testing.T) {
	dir := t.TempDir()
	noTorch := fakePython(t, dir, `echo "ModuleNotFoundError: No module named 'torch'" >&2; exit 1`)
	for python, want := range map[string]string{
		noTorch:                      "needs PyTorch for " + noTorch + " (on Debian: apt-get install python3-torch): ModuleNotFoundError: No module named 'torch'",
		filepath.Join(dir, "absent"): "apt-get install python3-torch",
	} {
		if _, err := NewTorch(python); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", python, err, want)
		}
	}
}

// TestTrainFLOPs checks the count against the torch script's formula for
// its fixed 17 tokens: 3·2·B·17·(L·12·D²) + 3·2·B·L·2·17²·D.
func TestTrainFLOPs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int
		want  float64
	}{
		{"vit_tiny", 64, 3*2*64*17*(12*12*192*192) + 3*2*64*12*2*17*17*192},
		{"vit_small", 64, 3*2*64*17*(12*12*384*384) + 3*2*64*12*2*17*17*384},
		{"vit_small", 1, 3*2*17*(12*12*384*384) + 3*2*12*2*17*17*384},
	} {
		if got := TrainFLOPs(preset(t, tc.name), tc.batch); got != tc.want {
			t.Errorf("%s batch %d: %g FLOPs, want %g", tc.name, tc.batch, got, tc.want)
		}
	}
}

// TestRunOnDevice times a small preset's training steps and forward passes
// on the GPU executor (here on the host emulation): a report line each,
// with a positive rate.
func TestRunOnDevice(t *testing.T) {
	dev := gputest.NewHostDevice(t, gpu.Source, gpu.KernelNames)
	p := vit.CustomPreset(32, 1, 2)
	for _, inference := range []bool{false, true} {
		var out strings.Builder
		if err := Run(&out, Config{Presets: []vit.Preset{p}, Batch: 2, Steps: 1, Inference: inference, Device: dev}); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		if !strings.HasPrefix(text, "device host emulation, batch 2, median of 1 ") ||
			!regexp.MustCompile(`vit_d32_depth1_heads2 \(D 32, depth 1, 2 heads\): [0-9.]+ ms/step  [0-9.]*[1-9][0-9.]* img/s`).MatchString(text) {
			t.Errorf("inference %v: report\n%s", inference, text)
		}
	}
}
