package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/reproduce"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/configs"
	"github.com/sslens/sslens/shared"
)

func init() {
	register(command{
		name:    "reproduce",
		summary: "run the reference project's results table: supervised, DINO, iBOT, SimSiam at 300/600/1200/all labels",
		usage: `[REPRODUCE.yaml] [--data DIR] [--indices F] [--out DIR] [--results DIR] [--dry-run]

REPRODUCE.yaml lists the backbones, methods, label counts and seeds, and the
experiment configs the cells start from (configs/reproduce-cpu.yaml, the
default, and configs/reproduce-full.yaml; see configs/README.md). For each
backbone, seed and SSL method it pretrains once on the whole train split
without labels, then fine-tunes on each count of leak-free labels (supervised:
from random init) and tests on the test split. Each cell trains in its own run
folder under --out; results.md, results.json and one ROC plot per backbone
and label count go to --results (default: --out). Running the same command
again skips finished cells and resumes an interrupted one; Ctrl-C stops after
the current step and exits 130.`,
		run: func(fs *flag.FlagSet, args []string) error {
			return interruptible(func(ctx context.Context) error { return runReproduce(ctx, fs, args, processEnv()) })
		},
	})
}

// runReproduce runs the reproduce command: the flags and the display over
// reproduce.Run.
func runReproduce(ctx context.Context, fs *flag.FlagSet, args []string, e env) error {
	var opt reproduce.Options
	fs.StringVar(&opt.Data, "data", "", "dataset `DIR` (replaces data path)")
	fs.StringVar(&opt.Indices, "indices", "", "splits `FILE`, indices.pkl or splits.json (replaces indices)")
	fs.StringVar(&opt.Output, "out", "", "`DIR` for the cells' run folders (replaces output_dir)")
	fs.StringVar(&opt.Results, "results", "", "`DIR` for results.md, results.json and the ROC plots (default: --out)")
	dryRun := fs.Bool("dry-run", false, "check the config, list the cells and exit")
	executor := fs.String("executor", "local", "where the cells train: `local`ly one after another, or slurm: each cell a Slurm job (fine-tunes after their pretraining), then the results here")
	var sl slurmFlags
	sl.register(fs)
	fs.StringVar(&opt.Only, "cell", "", "train only the cell `NAME` (as --dry-run lists it) and write no results: what each Slurm job of --executor slurm runs")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1:
		return usage(fs, "want at most one REPRODUCE.yaml")
	case *executor != "local" && *executor != "slurm":
		return usage(fs, "--executor %q: want local or slurm", *executor)
	case *executor == "slurm" && opt.Only != "":
		return usage(fs, "--cell runs one cell here; --executor slurm submits them all")
	}
	rc, err := loadReproduce(pos)
	if err != nil {
		return err
	}
	cells, warnings, err := reproduce.Plan(rc, opt.Data, opt.Indices, opt.Output)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, "warning: "+w)
	}
	// Cells that train on a GPU (finetune.overrides' experiment.device)
	// need it here before the first cell trains, not hours later; Slurm
	// jobs check on their nodes.
	if !*dryRun {
		for _, c := range cells {
			if err := checkDevice(c.Config.Experiment.Device, *executor == "local"); err != nil {
				return fmt.Errorf("%s: %w", c.Name(), err)
			}
		}
	}
	if *dryRun {
		for i, c := range cells {
			fmt.Fprintf(e.stdout, "%2d. %-48s %s\n", i+1, c.Name(), c.Dir)
		}
		return nil
	}
	if *executor == "slurm" {
		if err := submitCells(ctx, e, &sl, pos, cells); err != nil {
			return err
		}
	}
	ref, err := config.ParseReference([]byte(configs.SeedResults))
	if err != nil {
		return err
	}
	opt.Reference = ref
	opt.Command = commandLine(args)
	opt.NewModel = func(ps *vit.Params, cfg *config.Config) (reproduce.CellModel, error) {
		return e.newTrainingModel(ps, cfg)
	}
	// show draws the classifier cell training now as `sslens finetune`
	// does; a pretraining cell's records are shown as plain lines.
	var show *runDisplay
	opt.OnCell = func(ev reproduce.CellEvent) {
		line := fmt.Sprintf("[%d/%d] %s: %s", ev.Index, ev.Total, ev.Cell.Name(), ev.State)
		switch ev.State {
		case reproduce.CellStarted, reproduce.CellResumed:
			line += " in " + ev.Cell.Dir
			if show = nil; ev.Cell.Kind == reproduce.CellFinetune {
				show = newRunDisplay(e)
			}
		case reproduce.CellFinished:
			if show != nil {
				show.finish()
			}
			line += fmt.Sprintf(" in %v", time.Duration(ev.Seconds*float64(time.Second)).Round(time.Second))
		}
		fmt.Fprintln(e.stderr, line)
	}
	opt.Progress = func(r shared.Metric) {
		if show != nil {
			show.record(r)
		} else if line := pretrainLine(r); line != "" {
			fmt.Fprintln(e.stderr, line)
		}
	}
	res, err := reproduce.Run(ctx, rc, opt)
	if show != nil {
		show.finish()
	}
	if errors.Is(err, ssl.ErrStopped) {
		return fmt.Errorf("%w\nresume with: %s", err, opt.Command)
	}
	if err != nil {
		return err
	}
	if opt.Only != "" {
		fmt.Fprintf(e.stdout, "%s: finished\n", opt.Only)
		return nil
	}
	dir := opt.Results
	if dir == "" {
		dir = cells[0].OutputDir()
	}
	fmt.Fprintf(e.stdout, "%s\nresults: %s, %s and %d ROC plots in %s\n", reproduce.Markdown(res), layout.ResultsMD, layout.ResultsJSON, len(res.Plots), dir)
	return nil
}

// submitCells trains the unfinished cells as Slurm jobs, each running this
// binary's `reproduce --cell` with the same config, data and output
// folder, as absolute paths, and returns once all have finished.
func submitCells(ctx context.Context, e env, sl *slurmFlags, pos []string, cells []*reproduce.Cell) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ex, err := sl.executor(exe)
	if err != nil {
		return err
	}
	args := []string{"reproduce"}
	if len(pos) == 1 {
		args = append(args, abs(pos[0]))
	}
	in := cells[0].Config.Input
	args = append(args, "--data", abs(in.DataPath), "--out", abs(cells[0].OutputDir()))
	if in.Indices != "" {
		args = append(args, "--indices", abs(in.Indices))
	}
	return reproduceOnSlurm(ctx, e, ex, cells, args)
}

// abs is p as an absolute path, for a job that starts in another folder;
// p as given if the working folder is unknown.
func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// loadReproduce reads the reproduce config named in pos, or the shipped
// CPU preset with the base configs shipped beside it.
func loadReproduce(pos []string) (*config.ReproduceConfig, error) {
	if len(pos) == 1 {
		return config.LoadReproduce(pos[0])
	}
	b, err := fs.ReadFile(configs.FS, configs.ReproduceCPU)
	if err != nil {
		return nil, fmt.Errorf("reproduce: %w", err)
	}
	rc, err := config.ParseReproduce(b, func(name string) ([]byte, error) { return fs.ReadFile(configs.FS, path.Clean(name)) })
	if err != nil {
		return nil, fmt.Errorf("reproduce: configs/%s: %w", configs.ReproduceCPU, err)
	}
	return rc, nil
}

// commandLine is the command as typed, for the results and the resume
// hint, with arguments quoted where a shell needs it.
func commandLine(args []string) string {
	out := []string{"sslens", "reproduce"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			a = strconv.Quote(a)
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// pretrainLine renders a pretraining record as a log line, "" for a
// step. The metrics a record carries differ by method; absent ones are
// left out.
func pretrainLine(r shared.Metric) string {
	var s string
	switch r.Kind {
	case shared.MetricStep:
		return ""
	case shared.MetricEpoch:
		s = fmt.Sprintf("epoch %d/%d  step %d/%d", r.Epoch, r.TotalEpochs, r.Step, r.TotalSteps)
	case shared.MetricEval:
		s = fmt.Sprintf("epoch %d %s:", r.Epoch, r.Split)
	case shared.MetricWarning:
		return "warning: " + r.Message
	default:
		return r.Message
	}
	for _, f := range []struct {
		name, format string
		v            *float64
	}{{"loss", "%.4f", r.Loss}, {"accuracy", "%.4f", r.Accuracy}, {"AUC", "%.4f", r.AUC}, {"lr", "%.3g", r.LR}, {"images/s", "%.1f", r.ImagesPerSec}} {
		if f.v != nil {
			s += fmt.Sprintf("  %s "+f.format, f.name, *f.v)
		}
	}
	if r.Message != "" {
		s += "  " + r.Message
	}
	return s
}
