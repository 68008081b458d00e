package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

func init() {
	register(command{
		name:    "bench",
		summary: "time ViT training steps: images/s, GFLOP/s, share of sgemm, peak RSS; optionally against PyTorch",
		usage:   "[flags]",
		run:     func(fs *flag.FlagSet, args []string) error { return runBench(fs, args, os.Stdout) },
	})
}

// torchScript is a copy of ../shared/bench/torch_vit_step.py, the PyTorch
// peer: the same network, step and FLOP count on the CPU.
//
//go:embed torch_vit_step.py
var torchScript []byte

// benchWarmup is the number of untimed steps before the timed ones: the
// first compiles the graph and allocates its buffers.
const benchWarmup = 2

func runBench(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	presetList := fs.String("presets", "vit_tiny,vit_small", "comma-separated ViT preset `names` to time")
	batch := fs.Int("batch", 64, "images per training step")
	steps := fs.Int("steps", 10, "timed steps per preset (the median counts), after 2 warm-up steps")
	vsTorch := fs.Bool("vs-torch", false, "after each preset run the PyTorch peer on the same network and print the ratio")
	python := fs.String("python", "/usr/bin/python3", "Python `interpreter` with torch, for --vs-torch")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of each preset's timed steps to `FILE` (FILE.<preset> with several presets)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *batch <= 0 || *steps <= 0 {
		return errUsage
	}
	var presets []vit.Preset
	for _, name := range strings.Split(*presetList, ",") {
		p, err := vit.LookupPreset(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		presets = append(presets, p)
	}

	var script string
	if *vsTorch {
		if script, err = prepareTorch(*python); err != nil {
			return err
		}
		defer os.Remove(script)
	}

	threads := runtime.GOMAXPROCS(0)
	sgemm, err := measureSgemm(20)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "BLAS %s, %d threads, batch %d, median of %d steps (forward, backward, AdamW) after %d warm-up\n",
		ops.BLASName(), threads, *batch, *steps, benchWarmup)
	fmt.Fprintf(stdout, "sgemm %dx%d by %dx%d: %.1f GFLOP/s (best of 20)\n", sgemmM, sgemmK, sgemmK, sgemmN, sgemm)

	for _, p := range presets {
		profile := ""
		if *cpuprofile != "" {
			profile = *cpuprofile
			if len(presets) > 1 {
				profile += "." + p.Name
			}
		}
		r, err := benchPreset(p, *batch, *steps, profile)
		if err != nil {
			return err
		}
		gflops := trainFLOPs(p, *batch) / r.step.Seconds() / 1e9
		fmt.Fprintf(stdout, "%s (D %d, depth %d, %d heads): %.0f ms/step  %.1f img/s  %.1f GFLOP/s  %.0f%% of sgemm  peak RSS %.0f MB\n",
			p.Name, p.Dim, p.Depth, p.Heads, float64(r.step)/1e6, r.imagesPerSec(*batch), gflops, 100*gflops/sgemm, float64(r.peakRSS)/(1<<20))
		if profile != "" {
			fmt.Fprintf(stdout, "  CPU profile: %s\n", profile)
		}
		if !*vsTorch {
			continue
		}
		line, torchRate, err := runTorch(*python, script, p, *batch, *steps, threads)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %s\n  ours / torch: %.2fx images/s\n", line, r.imagesPerSec(*batch)/torchRate)
	}
	return nil
}

// benchResult is one preset's measurement.
type benchResult struct {
	step    time.Duration // median step time
	peakRSS int64         // bytes
}

func (r benchResult) imagesPerSec(batch int) float64 { return float64(batch) / r.step.Seconds() }

// benchPreset trains a fresh two-class ViT of preset p on random images
// for benchWarmup+steps steps of batch images with the preset's dropout and
// drop path, and returns the median timed step and the process's peak RSS
// over the run, profiling the timed steps into profile unless it is empty.
func benchPreset(p vit.Preset, batch, steps int, profile string) (benchResult, error) {
	// Return the previous preset's memory to the system and restart the
	// peak (Linux: writing 5 to clear_refs resets VmHWM, which getrusage's
	// maxrss reads); elsewhere the peak is the process's so far.
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)

	rng := rand.New(rand.NewPCG(1, 2))
	ps, err := vit.New(p, 2, rng)
	if err != nil {
		return benchResult{}, err
	}
	c, err := nn.NewClassifier(ps, nn.Options{Batch: batch, Seed: 1})
	if err != nil {
		return benchResult{}, err
	}
	defer c.Close()
	opt, err := optim.NewAdamW(c.Vars())
	if err != nil {
		return benchResult{}, err
	}
	per := p.InChans * p.ImageSize * p.ImageSize
	images, labels := make([]float32, batch*per), make([]int, batch)
	for i := range images {
		images[i] = float32(rng.NormFloat64())
	}
	for i := range labels {
		labels[i] = i % 2
	}
	step := func() error {
		if _, _, err := c.TrainStep(images, labels); err != nil {
			return err
		}
		opt.Step(1e-4, 0.05)
		return nil
	}
	for range benchWarmup {
		if err := step(); err != nil {
			return benchResult{}, err
		}
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return benchResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return benchResult{}, err
		}
	}
	times := make([]time.Duration, steps)
	for i := range times {
		start := time.Now()
		if err := step(); err != nil {
			pprof.StopCPUProfile()
			return benchResult{}, err
		}
		times[i] = time.Since(start)
	}
	if profile != "" {
		pprof.StopCPUProfile()
	}
	slices.Sort(times)
	return benchResult{step: times[len(times)/2], peakRSS: peakRSS()}, nil
}

// peakRSS returns the process's peak resident set in bytes (getrusage's
// maxrss, in KiB on Linux), or 0 where it is unavailable.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) * 1024
}

// trainFLOPs is the torch script's FLOP count of a training step: three
// times the forward's matrix products, 2·T·(4 + 2·MLPRatio)·D² per block and
// token for the linear layers and 2·2·T²·D per block for attention (the
// patch embedding and head left out).
func trainFLOPs(p vit.Preset, batch int) float64 {
	g := p.Grid(p.ImageSize)
	t, d, l, b := float64(g*g+1), float64(p.Dim), float64(p.Depth), float64(batch)
	linear := float64(4+2*p.MLPRatio) * d * d
	return 3*2*b*t*l*linear + 3*2*b*l*2*t*t*d
}

// The sgemm the kernels' rate is compared with: the qkv product of ViT-S/8
// at batch 64 (64·17 rows), 1088x384 by 384x1536.
const sgemmM, sgemmK, sgemmN = 1088, 384, 1536

// measureSgemm runs that product as the kernels do (ops.Linear without a
// bias, products split across cores) reps times and returns the best rate
// in GFLOP/s.
func measureSgemm(reps int) (float64, error) {
	g := gorgonia.NewGraph()
	rng := rand.New(rand.NewPCG(5, 6))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	x := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(sgemmM, sgemmK), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(sgemmM, sgemmK), tensor.WithBacking(fill(sgemmM*sgemmK)))))
	w := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(sgemmN, sgemmK), gorgonia.WithName("w"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(sgemmN, sgemmK), tensor.WithBacking(fill(sgemmN*sgemmK)))))
	if _, err := ops.Linear(x, w, nil); err != nil {
		return 0, err
	}
	vm := gorgonia.NewTapeMachine(g, gorgonia.EvalMode())
	defer vm.Close()
	best := time.Duration(1<<63 - 1)
	for range reps + 1 { // the first run allocates the output
		vm.Reset()
		start := time.Now()
		if err := vm.RunAll(); err != nil {
			return 0, err
		}
		best = min(best, time.Since(start))
	}
	return 2 * sgemmM * sgemmK * sgemmN / best.Seconds() / 1e9, nil
}

// prepareTorch checks that python imports torch and writes the peer script
// to a temporary file, whose path it returns.
func prepareTorch(python string) (string, error) {
	out, err := exec.Command(python, "-c", "import torch").CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("--vs-torch needs PyTorch for %s (on Debian: apt-get install python3-torch): %s", python, msg)
	}
	f, err := os.CreateTemp("", "sslens-torch-*.py")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(torchScript); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}

// torchRate matches the images/s figure of the peer's output line.
var torchRate = regexp.MustCompile(`([0-9.]+) img/s`)

// runTorch runs the peer script for preset p and returns its result line
// and images/s.
func runTorch(python, script string, p vit.Preset, batch, steps, threads int) (string, float64, error) {
	cmd := exec.Command(python, script, strconv.Itoa(p.Dim), strconv.Itoa(p.Depth), strconv.Itoa(p.Heads),
		strconv.Itoa(batch), strconv.Itoa(steps), strconv.Itoa(threads))
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return "", 0, fmt.Errorf("torch peer %s failed (%v):\n%s", filepath.Base(script), err, text)
	} else if err != nil {
		return "", 0, fmt.Errorf("torch peer: %w", err)
	}
	lines := strings.Split(text, "\n")
	line := lines[len(lines)-1]
	m := torchRate.FindStringSubmatch(line)
	if m == nil {
		return "", 0, fmt.Errorf("torch peer: no images/s in its output %q", text)
	}
	rate, err := strconv.ParseFloat(m[1], 64)
	if err != nil || rate <= 0 {
		return "", 0, fmt.Errorf("torch peer: images/s %q in %q", m[1], line)
	}
	return line, rate, nil
}
