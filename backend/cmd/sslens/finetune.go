package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/memplan"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/shared"
)

func init() {
	register(command{
		name:    "finetune",
		summary: "train a lens classifier, from random init (supervised) or a pretrained backbone (finetune)",
		usage: `CONFIG.yaml [--data DIR] [--indices F] [--checkpoint F] [--out DIR] [--resume RUN_DIR] [--max-steps N]
       sslens finetune --resume RUN_DIR

CONFIG is a supervised or finetune config (configs/supervised-*.yaml,
configs/finetune-*.yaml); the flags replace its data path, indices,
finetune.checkpoint and experiment.output_dir. The run folder receives
config.resolved.yaml, metrics.jsonl (one JSON record per step, epoch and
evaluation), checkpoints/last and checkpoints/best, report.json and
report.md. Ctrl-C stops after the current step, saves checkpoints/last and
exits 130; --max-steps N stops the same way after N steps but exits 0 (a
smoke run); --resume RUN_DIR continues the run exactly where it stopped.`,
		run: func(fs *flag.FlagSet, args []string) error {
			return interruptible(func(ctx context.Context) error { return runFinetune(ctx, fs, args, processEnv()) })
		},
	})
}

// classifier is the model the commands build and close.
type classifier interface {
	ssl.Model
	Close()
}

// modelOptions are the settings a classifier is built with.
type modelOptions struct {
	Batch          int    // images per forward pass
	Seed           uint64 // dropout and drop-path draws
	FreezeBackbone bool   // train the head only (linear probe)
	Device         string // cpu or cuda:N
}

// inferenceOptions build a classifier for forward passes only (eval, score,
// embed): the batch bounds memory and does not change the results.
var inferenceOptions = modelOptions{Batch: 64}

// trainingOptions are the settings cfg trains a classifier with: on the
// CPU its machines run the micro-batch train args.micro_batch or
// max_memory picks; on a GPU the whole batch, which the device's memory
// may split (see newGPUClassifier).
func trainingOptions(cfg *config.Config) (modelOptions, error) {
	opt := modelOptions{Seed: cfg.Experiment.Seed, FreezeBackbone: cfg.Finetune.LinearProbe, Device: cfg.Experiment.Device}
	if spec, err := gpu.ParseDevice(cfg.Experiment.Device); err == nil && spec.CUDA {
		opt.Batch = cfg.Train.BatchSize
		return opt, nil
	}
	plan, err := memplan.Classifier(cfg)
	if err != nil {
		return modelOptions{}, err
	}
	opt.Batch = plan.Chunk
	return opt, nil
}

// limitMemory makes the Go runtime collect garbage harder near train
// args.max_memory, so that the step's estimate is also its peak.
func limitMemory(cfg *config.Config) {
	if b, err := cfg.Train.MemoryBudget(); err == nil && b > 0 {
		debug.SetMemoryLimit(b)
	}
}

// newTrainingModel builds the classifier cfg trains.
func (e env) newTrainingModel(ps *vit.Params, cfg *config.Config) (classifier, error) {
	opt, err := trainingOptions(cfg)
	if err != nil {
		return nil, err
	}
	return e.newModel(ps, opt)
}

// env is what a command talks to: its output streams, whether stderr is a
// terminal (progress bars) or a log (plain lines), and how it builds a
// classifier from parameters, which tests replace with a stand-in.
type env struct {
	stdout, stderr io.Writer
	terminal       bool
	newModel       func(ps *vit.Params, opt modelOptions) (classifier, error)
}

// processEnv is the environment of the running binary.
func processEnv() env {
	return env{stdout: os.Stdout, stderr: os.Stderr, terminal: isTerminal(os.Stderr), newModel: newClassifier}
}

// newClassifier builds the ViT classifier on opt.Device: backend/nn's on
// the CPU, backend/gpu's on cuda:N.
func newClassifier(ps *vit.Params, opt modelOptions) (classifier, error) {
	spec, err := gpu.ParseDevice(opt.Device)
	if err != nil {
		return nil, err
	}
	if spec.CUDA {
		return newGPUClassifier(ps, spec, gpu.Options{Batch: opt.Batch, Seed: opt.Seed, FreezeBackbone: opt.FreezeBackbone})
	}
	c, err := nn.NewClassifier(ps, nn.Options{Batch: opt.Batch, Seed: opt.Seed, FreezeBackbone: opt.FreezeBackbone})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func runFinetune(ctx context.Context, fs *flag.FlagSet, args []string, e env) error {
	var o config.Overrides
	var opt ssl.Options
	runFlags(fs, &o, &opt)
	fs.StringVar(&o.Checkpoint, "checkpoint", "", "pretrained model.safetensors or its folder (replaces finetune.checkpoint)")
	path, err := runConfigPath(fs, args, &opt.Resume)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if err := cfg.Resolve(o); err != nil {
		return err
	}
	if err := checkDevice(cfg.Experiment.Device, true); err != nil {
		return err
	}
	limitMemory(cfg)
	show := newRunDisplay(e)
	opt.Progress = show.record
	run, err := ssl.NewClassifierRun(cfg, opt)
	if err != nil {
		return err
	}
	defer run.Close()
	m, err := e.newTrainingModel(run.Params, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	rep, err := run.Train(ctx, m)
	show.finish()
	if err != nil {
		return runEnded(e, err, "finetune", run.Dir)
	}
	fmt.Fprintf(e.stdout, "%s\nrun folder: %s\n", rep.Markdown(), run.Dir)
	return nil
}

// runDisplay shows a run's records on stderr: a progress bar over the
// steps on a terminal, with the other records printed above it, and only
// the epoch, evaluation and log lines otherwise.
type runDisplay struct {
	e   env
	bar *progressbar.ProgressBar
}

func newRunDisplay(e env) *runDisplay { return &runDisplay{e: e} }

func (d *runDisplay) record(r shared.Metric) {
	if r.Kind == shared.MetricStep {
		if !d.e.terminal {
			return
		}
		desc := fmt.Sprintf("epoch %d/%d loss %.4f", r.Epoch, r.TotalEpochs, *r.Loss)
		if d.bar == nil {
			d.bar = newBar(d.e.stderr, r.TotalSteps, desc)
		} else {
			d.bar.Describe(desc)
		}
		d.bar.Set(r.Step)
		return
	}
	if d.bar != nil {
		d.bar.Clear()
	}
	fmt.Fprintln(d.e.stderr, recordLine(r))
}

func (d *runDisplay) finish() {
	if d.bar != nil {
		d.bar.Finish()
	}
}

// recordLine renders a non-step record as one log line.
func recordLine(r shared.Metric) string {
	switch r.Kind {
	case shared.MetricEpoch:
		s := fmt.Sprintf("epoch %d/%d  step %d/%d  loss %.4f  train accuracy %.2f%%  lr %.3g",
			r.Epoch, r.TotalEpochs, r.Step, r.TotalSteps, *r.Loss, 100**r.Accuracy, *r.LR)
		if r.ImagesPerSec != nil {
			s += fmt.Sprintf("  %.1f images/s", *r.ImagesPerSec)
		}
		return s
	case shared.MetricEval:
		who := fmt.Sprintf("epoch %d", r.Epoch)
		if r.Model != "" {
			who = fmt.Sprintf("%s model (epoch %d)", r.Model, r.Epoch)
		}
		return fmt.Sprintf("%s %s: accuracy %.2f%%  AUC %.4f", who, r.Split, 100**r.Accuracy, *r.AUC)
	case shared.MetricWarning:
		return "warning: " + r.Message
	}
	return r.Message
}

// newBar returns a progress bar over total items on w.
func newBar(w io.Writer, total int, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
}

// imageProgress returns an ssl.Counter drawing a bar on a terminal, and
// a function to call when done; both do nothing when stderr is a log.
func imageProgress(e env, what string) (ssl.Counter, func()) {
	if !e.terminal {
		return nil, func() {}
	}
	var bar *progressbar.ProgressBar
	return func(done, total int) {
			if bar == nil {
				bar = newBar(e.stderr, total, what)
			}
			bar.Set(done)
		}, func() {
			if bar != nil {
				bar.Finish()
			}
		}
}

// runFlags adds to fs the flags the training commands share: --data,
// --indices and --out replace o's fields, --resume names a run to continue
// and --max-steps ends a smoke run early (opt's fields).
func runFlags(fs *flag.FlagSet, o *config.Overrides, opt *ssl.Options) {
	fs.StringVar(&o.Data, "data", "", "dataset `DIR` (replaces input.data path)")
	fs.StringVar(&o.Indices, "indices", "", "splits `FILE`, indices.pkl or splits.json (replaces input.indices)")
	fs.StringVar(&o.Output, "out", "", "run `DIR` (replaces experiment.output_dir)")
	fs.StringVar(&opt.Resume, "resume", "", "continue the run in `RUN_DIR` from its checkpoints/last")
	fs.IntVar(&opt.MaxSteps, "max-steps", 0, "stop after `N` optimiser steps in all, saving checkpoints/last (a smoke run; resumable)")
	fs.IntVar(&o.MicroBatch, "micro-batch", 0, "run the backbone over `N` images at a time within a step (replaces train args.micro_batch)")
	fs.StringVar(&o.MaxMemory, "max-memory", "", "memory a step may take, e.g. 6GiB: picks the largest micro-batch that fits (replaces train args.max_memory)")
	fs.StringVar(&o.Device, "device", "", "train on `cpu`, cuda (GPU 0) or cuda:N (replaces experiment.device; classifiers only)")
}

// runEnded reports how a training command's run ended early: stopped
// (Ctrl-C, exit status 130) or at --max-steps (a smoke run, success); both
// say how to resume.
func runEnded(e env, err error, command, dir string) error {
	resume := fmt.Sprintf("resume with: sslens %s --resume %s", command, dir)
	switch {
	case errors.Is(err, ssl.ErrStepLimit):
		fmt.Fprintf(e.stdout, "%v\n%s\n", err, resume)
		return nil
	case errors.Is(err, ssl.ErrStopped):
		return fmt.Errorf("%w\n%s", err, resume)
	}
	return err
}

// runConfigPath parses args and returns the config a training command
// runs: its one positional argument, or the resolved config saved in the
// run folder that --resume names (resume is read once args are parsed).
func runConfigPath(fs *flag.FlagSet, args []string, resume *string) (string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return "", err
	}
	switch {
	case len(pos) == 1:
		return pos[0], nil
	case len(pos) == 0 && *resume != "":
		dir, err := ssl.FindRun(*resume)
		if err != nil {
			return "", err
		}
		return layout.Run(dir).Path(layout.ResolvedConfig), nil
	}
	return "", usage(fs, "want one CONFIG, or --resume RUN_DIR")
}
