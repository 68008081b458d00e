package main

import (
	"flag"
	"io"
	"os"
	"strings"

	"github.com/sslens/sslens/backend/nn/bench"
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
	c := bench.Config{Batch: *batch, Steps: *steps, CPUProfile: *cpuprofile}
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
	return bench.Run(stdout, c)
}
