package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/memplan"
	"github.com/sslens/sslens/backend/nn/bench"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/configs"
)

// maxMethodBatch caps the default batch of `bench --method`: unchunked,
// the reference batches (128, SimSiam 512) take minutes a step on 2 cores
// and many GB (DINO ViT-S/8 peaks at 3.7 GB at batch 32 and 6.8 GB at 64,
// about 97 MB an image); --batch runs them anyway.
const maxMethodBatch = 32

func init() {
	register(command{
		name:    "bench",
		summary: "time ViT training or pretraining steps: images/s, GFLOP/s, share of sgemm, peak RSS; optionally against PyTorch",
		usage:   "[flags]",
		run:     func(fs *flag.FlagSet, args []string) error { return runBench(fs, args, os.Stdout) },
	})
}

func runBench(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	presetList := fs.String("presets", "vit_tiny,vit_small", "comma-separated ViT preset `names` to time supervised steps of")
	methods := fs.String("method", "", "comma-separated pretraining `methods` (dino, ibot, simsiam) to time a whole step of, with configs/reference/<method>-vit-small.yaml's crops, heads and optimiser, instead of supervised steps")
	preset := fs.String("preset", "", "with --method: the backbone preset `name` instead of the config's (vit_small)")
	batch := fs.Int("batch", 0, fmt.Sprintf("images per step (0: 64; with --method the config's, at most %d without --max-memory: unchunked, the reference batches take minutes a step and many GB)", maxMethodBatch))
	maxMemory := fs.String("max-memory", "", "with --method: memory a step may take, e.g. 6GiB; the config's batch then runs in the largest micro-batches that fit (train args.max_memory)")
	inference := fs.Bool("inference", false, "time forward passes in evaluation mode, as scoring runs them, instead of training steps (with --presets)")
	steps := fs.Int("steps", 10, "timed steps per preset or method (the median counts), after 2 warm-up steps")
	vsTorch := fs.Bool("vs-torch", false, "after each preset or method run the PyTorch peer on the same network and step and print the ratio")
	python := fs.String("python", "/usr/bin/python3", "Python `interpreter` with torch, for --vs-torch")
	device := registerDevice(fs)
	tf32 := fs.Bool("tf32", false, "with --device cuda: let cuBLAS use TF32 for float32 products (about 1e-3 relative)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of each preset's or method's timed steps to `FILE` (FILE.<name> with several)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *batch < 0 || *steps <= 0 || ((*preset != "" || *maxMemory != "") && *methods == "") || (*inference && *methods != "") {
		return errUsage
	}
	spec, err := gpu.ParseDevice(*device)
	if err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if spec.CUDA && (*methods != "" || *cpuprofile != "") {
		return usage(fs, "--device %s times supervised steps or forward passes (--presets); pretraining (--method) and --cpuprofile are CPU only", spec)
	}
	if *methods != "" {
		py := ""
		if *vsTorch {
			py = *python
		}
		return benchMethods(stdout, strings.Split(*methods, ","), methodBench{preset: *preset, batch: *batch, maxMemory: *maxMemory}, *steps, py, *cpuprofile)
	}
	c := bench.Config{Batch: *batch, Steps: *steps, CPUProfile: *cpuprofile, Inference: *inference}
	if c.Batch == 0 {
		c.Batch = 64
	}
	for _, name := range strings.Split(*presetList, ",") {
		p, err := vit.LookupPreset(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		c.Presets = append(c.Presets, p)
	}
	if *vsTorch {
		c.Python = *python
	}
	if spec.CUDA {
		if err := checkDevice(*device, true); err != nil {
			return err
		}
		dev, err := gpu.Open(spec, *tf32)
		if err != nil {
			return err
		}
		defer dev.Close()
		c.Device = dev
	}
	return bench.Run(stdout, c)
}

// methodBench is what --method's flags change in the reference configs:
// the backbone preset, the batch (0: the config's, at most maxMethodBatch
// without a memory budget) and train args.max_memory, each unless empty.
type methodBench struct {
	preset    string
	batch     int
	maxMemory string
}

// benchMethods times a pretraining step of each method's reference
// ViT-S/8 config, as mb changes it, then the PyTorch peer's same step
// when python is not empty.
func benchMethods(w io.Writer, methods []string, mb methodBench, steps int, python, profile string) error {
	cfgs := make([]*config.Config, len(methods))
	for i, m := range methods {
		m = strings.TrimSpace(m)
		b, err := fs.ReadFile(configs.FS, "reference/"+m+"-vit-small.yaml")
		if err != nil {
			return fmt.Errorf("bench: --method %q: want dino, ibot or simsiam", m)
		}
		if cfgs[i], err = config.Parse(b); err != nil {
			return fmt.Errorf("bench: reference/%s-vit-small.yaml: %w", m, err)
		}
		if mb.preset != "" {
			cfgs[i].Network.Backbone = mb.preset
		}
		cfgs[i].Train.MaxMemory = mb.maxMemory
		switch {
		case mb.batch > 0:
			cfgs[i].Train.BatchSize = mb.batch
		case mb.maxMemory == "" && cfgs[i].Train.BatchSize > maxMethodBatch:
			fmt.Fprintf(w, "%s: batch %d instead of the config's %d, whose unchunked steps take minutes and many GB (--batch %[3]d runs it)\n",
				m, maxMethodBatch, cfgs[i].Train.BatchSize)
			cfgs[i].Train.BatchSize = maxMethodBatch
		}
	}
	var peer *bench.Torch
	if python != "" {
		var err error
		if peer, err = bench.NewTorch(python); err != nil {
			return err
		}
		defer peer.Close()
	}
	if _, err := bench.Header(w, fmt.Sprintf("median of %d pretraining steps (augmentation, teacher, student forward and backward, optimiser, EMA) after %d warm-up", steps, bench.Warmup)); err != nil {
		return err
	}
	for i, cfg := range cfgs {
		file := profile
		if file != "" && len(cfgs) > 1 {
			file += "." + string(cfg.Experiment.Method)
		}
		if err := benchMethod(w, cfg, steps, peer, file); err != nil {
			return fmt.Errorf("bench: %s: %w", methods[i], err)
		}
	}
	return nil
}

// benchMethod times cfg's pretraining step and reports it against peer.
func benchMethod(w io.Writer, cfg *config.Config, steps int, peer *bench.Torch, profile string) error {
	plan, err := memplan.Config(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %s: %s\n", cfg.Experiment.Method, cfg.Network.Backbone, plan.Note(cfg.Train.BatchSize))
	pb, err := ssl.NewPretrainBench(cfg)
	if err != nil {
		return err
	}
	defer pb.Close()
	r, err := bench.Measure(steps, profile, pb.Step)
	if err != nil {
		return err
	}
	aug, err := bench.Measure(steps, "", pb.Augment)
	if err != nil {
		return err
	}
	if err := bench.ReportMethod(w, pb.Peer(), r, aug.Step, peer, steps); err != nil {
		return err
	}
	if profile != "" {
		fmt.Fprintf(w, "  CPU profile: %s\n", profile)
	}
	return nil
}
