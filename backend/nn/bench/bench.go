package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Warmup is the number of untimed steps before the timed ones: the first
// compiles the graph and allocates its buffers.
const Warmup = 2

// Config is what Run measures.
type Config struct {
	Presets []vit.Preset
	Batch   int // images per training step
	Steps   int // timed steps per preset; the median counts
	// Inference times forward passes in evaluation mode (scoring) instead
	// of training steps.
	Inference bool
	// Python, when not empty, is an interpreter with torch that runs the
	// PyTorch peer after each preset.
	Python string
	// CPUProfile, when not empty, is the file that receives a CPU profile
	// of each preset's timed steps (FILE.<preset> with several presets).
	CPUProfile string
	// Device, when not nil, is the GPU the presets run on (RunGPU).
	Device gpu.Device
}

// Run times each preset and writes one report line per preset to w, after
// a header with the BLAS, threads and sgemm rate, and with the peer's line
// and the ratio of images/s when c.Python is set.
func Run(w io.Writer, c Config) error {
	if c.Batch <= 0 || c.Steps <= 0 {
		return fmt.Errorf("bench: batch %d and steps %d must be positive", c.Batch, c.Steps)
	}
	if c.Device != nil {
		return runGPU(w, c)
	}
	peer, err := openPeer(c.Python)
	if err != nil {
		return err
	}
	if peer != nil {
		defer peer.Close()
	}
	threads := runtime.GOMAXPROCS(0)
	what, measure, flops := "steps (forward, backward, AdamW)", Preset, TrainFLOPs
	if c.Inference {
		what, measure = "forward passes in evaluation mode (scoring)", Inference
		flops = func(p vit.Preset, batch int) float64 { return TrainFLOPs(p, batch) / 3 }
	}
	sgemm, err := Header(w, fmt.Sprintf("batch %d, median of %d %s after %d warm-up", c.Batch, c.Steps, what, Warmup))
	if err != nil {
		return err
	}
	for _, p := range c.Presets {
		profile := c.CPUProfile
		if profile != "" && len(c.Presets) > 1 {
			profile += "." + p.Name
		}
		r, err := measure(p, c.Batch, c.Steps, profile)
		if err != nil {
			return err
		}
		gflops := flops(p, c.Batch) / r.Step.Seconds() / 1e9
		fmt.Fprintf(w, "%s (D %d, depth %d, %d heads): %.0f ms/step  %.1f img/s  %.1f GFLOP/s  %.0f%% of sgemm  peak RSS %.0f MB\n",
			p.Name, p.Dim, p.Depth, p.Heads, float64(r.Step)/1e6, r.ImagesPerSec(c.Batch), gflops, 100*gflops/sgemm, float64(r.PeakRSS)/(1<<20))
		if profile != "" {
			fmt.Fprintf(w, "  CPU profile: %s\n", profile)
		}
		if peer == nil {
			continue
		}
		line, rate, err := peer.Run(p, c.Batch, c.Steps, threads, c.Inference, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s\n  ours / torch: %.2fx images/s\n", line, r.ImagesPerSec(c.Batch)/rate)
	}
	return nil
}

// openPeer is the PyTorch peer for python, nil when python is empty.
func openPeer(python string) (*Torch, error) {
	if python == "" {
		return nil, nil
	}
	return NewTorch(python)
}

// Header writes the lines every report starts with, the BLAS, the threads,
// what is measured and the rate of one sgemm, and returns that rate in
// GFLOP/s.
func Header(w io.Writer, what string) (float64, error) {
	sgemm, err := Sgemm(20)
	if err != nil {
		return 0, err
	}
	blas := ops.BLASName()
	if core := ops.BLASCore(); core != "" {
		blas += " (" + core + " kernels)"
	}
	fmt.Fprintf(w, "BLAS %s, %d threads, %s\n", blas, runtime.GOMAXPROCS(0), what)
	fmt.Fprintf(w, "sgemm %dx%d by %dx%d: %.1f GFLOP/s (best of 20)\n", SgemmM, SgemmK, SgemmK, SgemmN, sgemm)
	return sgemm, nil
}

// Result is one preset's measurement.
type Result struct {
	Step    time.Duration // median step time
	PeakRSS int64         // bytes
}

// ImagesPerSec is the training throughput at batch images a step.
func (r Result) ImagesPerSec(batch int) float64 { return float64(batch) / r.Step.Seconds() }

// Preset trains a fresh two-class ViT of preset p on random images for
// Warmup+steps steps of batch images with the preset's dropout and drop
// path (Measure), profiling the timed steps into profile unless it is
// empty.
func Preset(p vit.Preset, batch, steps int, profile string) (Result, error) {
	c, images, labels, err := randomClassifier(p, batch)
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	step, err := adamWStep(c, images, labels)
	if err != nil {
		return Result{}, err
	}
	return Measure(steps, profile, step)
}

// randomBatch is a fresh two-class ViT of preset p and a batch of unit
// Gaussian noise images with labels alternating from 0.
func randomBatch(p vit.Preset, batch int) (*vit.Params, []float32, []int, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	ps, err := vit.New(p, 2, rng)
	if err != nil {
		return nil, nil, nil, err
	}
	images := make([]float32, batch*p.InChans*p.ImageSize*p.ImageSize)
	for i := range images {
		images[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = i % 2
	}
	return ps, images, labels, nil
}

// randomClassifier is randomBatch with the CPU engine's classifier built
// for batch images.
func randomClassifier(p vit.Preset, batch int) (*nn.Classifier, []float32, []int, error) {
	ps, images, labels, err := randomBatch(p, batch)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := nn.NewClassifier(ps, nn.Options{Batch: batch, Seed: 1})
	if err != nil {
		return nil, nil, nil, err
	}
	return c, images, labels, nil
}

// trainer is a classifier's training side, on the CPU or a GPU.
type trainer interface {
	TrainStep(images []float32, labels []int) (float64, []float64, error)
	Vars() []optim.Var
}

// adamWStep is one training step of c on images as the training loop takes
// it: forward and backward, then an AdamW update of its Vars.
func adamWStep(c trainer, images []float32, labels []int) (func() error, error) {
	opt, err := optim.NewAdamW(c.Vars())
	if err != nil {
		return nil, err
	}
	return func() error {
		if _, _, err := c.TrainStep(images, labels); err != nil {
			return err
		}
		opt.Step(1e-4, 0.05)
		return nil
	}, nil
}

// Inference scores batch random images with a fresh two-class ViT of
// preset p in evaluation mode, as sslens score does, Warmup+steps times
// (Measure), profiling the timed passes into profile unless it is empty.
func Inference(p vit.Preset, batch, steps int, profile string) (Result, error) {
	c, images, _, err := randomClassifier(p, batch)
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	return Measure(steps, profile, func() error {
		_, err := c.Predict(images)
		return err
	})
}

// Measure runs step Warmup times, then steps timed times, and returns the
// median timed step and the process's peak RSS since Measure began (the
// networks are built before: their parameters count), profiling the timed
// steps into profile unless it is empty.
func Measure(steps int, profile string, step func() error) (Result, error) {
	// Return earlier measurements' memory to the system and restart the
	// peak (Linux: writing 5 to clear_refs resets VmHWM, which getrusage's
	// maxrss reads); elsewhere the peak is the process's so far.
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	for range Warmup {
		if err := step(); err != nil {
			return Result{}, err
		}
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return Result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return Result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	times := make([]time.Duration, steps)
	for i := range times {
		start := time.Now()
		if err := step(); err != nil {
			return Result{}, err
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return Result{Step: times[len(times)/2], PeakRSS: peakRSS()}, nil
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

// TrainFLOPs is the torch script's FLOP count of a training step: three
// times the forward's matrix products, 2·T·(4 + 2·MLPRatio)·D² per block and
// token for the linear layers and 2·2·T²·D per block for attention (the
// patch embedding and head left out).
func TrainFLOPs(p vit.Preset, batch int) float64 {
	g := p.Grid(p.ImageSize)
	t, d, l, b := float64(g*g+1), float64(p.Dim), float64(p.Depth), float64(batch)
	linear := float64(4+2*p.MLPRatio) * d * d
	return 3*2*b*t*l*linear + 3*2*b*l*2*t*t*d
}
