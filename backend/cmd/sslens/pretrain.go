package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/memplan"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/shared"
)

func init() {
	register(command{
		name:    "pretrain",
		aliases: []string{"train"},
		summary: "pretrain a backbone without labels: DINO, iBOT or SimSiam",
		usage: `CONFIG.yaml [--data DIR] [--indices F] [--out DIR] [--resume RUN_DIR] [--max-steps N] [--dry-run] [--backbone NAME] [--epochs N] [--batch N]
       sslens pretrain --resume RUN_DIR

CONFIG is a dino, ibot or simsiam config (the reference project's six in
configs/reference load as they are); --data, --indices and --out replace
its data path, indices and experiment.output_dir, and --backbone, --epochs
and --batch its network.backbone, train args.num_epochs and batch_size, to
shrink a run (warm-ups longer than the new epochs are cut to them).
--dry-run checks the config and the overrides, prints the resolved config
as YAML on stdout and the warnings on stderr, and trains nothing.

The run folder receives config.resolved.yaml, metrics.jsonl (steps, epochs,
the collapse monitor every epoch, the kNN monitor on val and a checkpoint
every log_freq epochs), checkpoints/last and pretrain_report.json/.md.
checkpoints/last/model.safetensors holds the backbone (the teacher's for
DINO and iBOT) that sslens finetune and sslens eval --knn load. Ctrl-C
stops after the current step, saves checkpoints/last and exits 130;
--max-steps N stops the same way after N steps but exits 0 (a smoke run of
a long config); --resume RUN_DIR continues the run exactly where it stopped.`,
		run: func(fs *flag.FlagSet, args []string) error {
			return interruptible(func(ctx context.Context) error { return runPretrain(ctx, fs, args, processEnv()) })
		},
	})
}

// pretrainOverrides are the flags that replace config settings to shrink a run.
type pretrainOverrides struct {
	backbone      string
	epochs, batch int
}

func runPretrain(ctx context.Context, fs *flag.FlagSet, args []string, e env) error {
	var o config.Overrides
	var ov pretrainOverrides
	var opt ssl.Options
	runFlags(fs, &o, &opt)
	dryRun := fs.Bool("dry-run", false, "check the config, print it resolved, and train nothing")
	fs.StringVar(&ov.backbone, "backbone", "", "backbone `NAME` (replaces network.backbone: vit_nano, vit_tiny, vit_small, vit_base)")
	fs.IntVar(&ov.epochs, "epochs", 0, "epochs `N` (replaces train args.num_epochs)")
	fs.IntVar(&ov.batch, "batch", 0, "images per step `N` (replaces train args.batch_size)")
	path, err := runConfigPath(fs, args, &opt.Resume)
	if err != nil {
		return err
	}
	switch {
	case ov.epochs < 0:
		return usage(fs, "--epochs %d is negative", ov.epochs)
	case ov.batch < 0:
		return usage(fs, "--batch %d is negative", ov.batch)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if err := ov.apply(cfg); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	noData := false
	if err := cfg.Resolve(o); err != nil {
		// A dry run may check a config without its data.
		var fe shared.FieldError
		if !*dryRun || !errors.As(err, &fe) || fe.Key != "input.data path" {
			return err
		}
		noData = true
	}
	p, err := cfg.Preset()
	if err != nil {
		return err
	}
	if err := ssl.CheckPretrain(cfg, p); err != nil {
		return err
	}
	if *dryRun {
		return printDryRun(e, path, cfg, noData)
	}

	limitMemory(cfg)
	show := newRunDisplay(e)
	opt.Progress = func(r shared.Metric) { pretrainRecord(show, r) }
	run, err := ssl.NewPretrainRun(cfg, opt)
	if err != nil {
		return err
	}
	defer run.Close()
	rep, err := run.Train(ctx)
	show.finish()
	if err != nil {
		return runEnded(e, err, "pretrain", run.Dir)
	}
	fmt.Fprintf(e.stdout, "%s\nrun folder: %s\nbackbone for fine-tuning: %s\n", rep.Markdown(), run.Dir, run.Checkpoint())
	return nil
}

// apply replaces the settings the flags name and checks the config again.
// Warm-ups longer than a shortened run are cut to it, with a warning.
func (ov pretrainOverrides) apply(cfg *config.Config) error {
	if ov.backbone != "" {
		cfg.Network.Backbone = ov.backbone
	}
	if ov.batch > 0 {
		cfg.Train.BatchSize = ov.batch
	}
	if ov.epochs > 0 {
		cfg.Train.Epochs = ov.epochs
		for _, w := range []struct {
			key string
			v   *int
		}{
			{"optimizer.scheduler_warmup_epochs", &cfg.Optimizer.WarmupEpochs},
			{"optimizer.warmup_teacher_temp_epochs", &cfg.Optimizer.WarmupTeacherTempEpochs},
		} {
			if *w.v > ov.epochs {
				cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s: %d cut to --epochs %d", w.key, *w.v, ov.epochs))
				*w.v = ov.epochs
			}
		}
	}
	return cfg.Validate()
}

// printDryRun writes the resolved config as YAML to stdout, which loads
// back as a config, and a summary and the warnings to stderr.
func printDryRun(e env, path string, cfg *config.Config, noData bool) error {
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	e.stdout.Write(y)
	for _, w := range cfg.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if noData {
		fmt.Fprintln(e.stderr, "warning: input.data path: empty; a run needs it in the config or --data DIR")
	}
	fmt.Fprintf(e.stderr, "%s: valid: %s on %s, %d epochs of batch %d, output %s\n", path, cfg.Experiment.Method,
		cfg.Network.Backbone, cfg.Train.Epochs, cfg.Train.BatchSize, cfg.Experiment.OutputDir)
	plan, err := memplan.Config(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%s (the data held in memory not counted)\n", plan.Note(cfg.Train.BatchSize))
	return nil
}

// pretrainRecord shows a pretraining record: the epoch and kNN records in
// their own words (they carry a loss but no accuracy), the rest as a
// classifier run's.
func pretrainRecord(d *runDisplay, r shared.Metric) {
	var line string
	switch {
	case r.Kind == shared.MetricEpoch && r.Loss != nil && r.LR != nil:
		line = fmt.Sprintf("epoch %d/%d  step %d/%d  loss %.4f  lr %.3g", r.Epoch, r.TotalEpochs, r.Step, r.TotalSteps, *r.Loss, *r.LR)
		if r.ImagesPerSec != nil {
			line += fmt.Sprintf("  %.1f images/s", *r.ImagesPerSec)
		}
	case r.Kind == shared.MetricEval && r.Accuracy != nil && r.AUC != nil:
		line = fmt.Sprintf("epoch %d kNN on %s: accuracy %.2f%%  AUC %.4f", r.Epoch, r.Split, 100**r.Accuracy, *r.AUC)
	default:
		d.record(r)
		return
	}
	if d.bar != nil {
		d.bar.Clear()
	}
	fmt.Fprintln(d.e.stderr, line)
}
