package ssl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

// stripTimes drops the fields that vary between identical runs: the
// sequence number (resumes add log records), times and speeds.
func stripTimes(recs []shared.Metric) []shared.Metric {
	out := make([]shared.Metric, 0, len(recs))
	for _, r := range recs {
		r.Seq, r.Time, r.ImagesPerSec, r.Seconds = 0, time.Time{}, nil, nil
		out = append(out, r)
	}
	return out
}

// results keeps a run's records of training results, without times.
func results(recs []shared.Metric) []shared.Metric {
	var out []shared.Metric
	for _, r := range stripTimes(recs) {
		if r.Kind == shared.MetricStep || r.Kind == shared.MetricEpoch || r.Kind == shared.MetricEval {
			out = append(out, r)
		}
	}
	return out
}

// stepAt and epochAt stop a run at a step or epoch record.
func stepAt(n int) func(shared.Metric) bool {
	return func(r shared.Metric) bool { return r.Kind == shared.MetricStep && r.Step == n }
}

func epochAt(n int) func(shared.Metric) bool {
	return func(r shared.Metric) bool { return r.Kind == shared.MetricEpoch && r.Epoch == n }
}

// A run stopped (a cancel, or Options.MaxSteps) and resumed ends bit for
// bit where the same run without a stop ends, whatever it trains: weights (checkpoints/last and, for a
// classifier, checkpoints/best), optimiser state, heads, centres and
// running statistics, the result records and the report. The classifier
// (smallSpec, 3 steps of 16 per epoch, the last one full) trains the
// stand-in model; the pretraining methods (pretrainSpec, 4 steps of 8)
// a one-block ViT with dropout and drop path, whose masks must follow the
// step across the stop.
func TestResumeIsBitwiseExact(t *testing.T) {
	classifierData, _ := ssltest.TempDataset(t, smallSpec)
	pretrainData, _ := ssltest.TempDataset(t, pretrainSpec)
	augmented := func(c *config.Config) { c.Finetune.Augment, c.Augmentation.Rot90 = true, true }
	for _, tc := range []struct {
		name   string
		method config.Method
		edit   func(*config.Config)
		stopAt func(shared.Metric) bool
		// how the resumed run is pointed at the stopped one.
		via string
		// crash appends a record from after the checkpoint, as a crash
		// between checkpoints leaves behind; resuming must drop it.
		crash bool
		// maxSteps, when set, ends the first run through Options.MaxSteps
		// instead of a cancel at stopAt.
		maxSteps int
	}{
		{"supervised after epoch 2", config.Supervised, nil, epochAt(2), "run folder", false, 0},
		{"supervised mid epoch 2, augmented", config.Supervised, augmented, stepAt(5), "checkpoint folder", true, 0},
		{"supervised after the first step, augmented", config.Supervised, augmented, stepAt(1), "config restore", false, 0},
		{"supervised at --max-steps 4", config.Supervised, nil, nil, "run folder", false, 4},
		{"dino mid epoch 2, frozen last layer, clipping", config.DINO, func(c *config.Config) {
			c.Train.FreezeLastLayer, c.Optimizer.ClipGrad = 2, 0.5
		}, stepAt(6), "run folder", true, 0},
		{"ibot after the first step", config.IBOT, func(c *config.Config) { c.Network.MaskConfig.StartEpoch = 1 },
			stepAt(1), "checkpoint folder", false, 0},
		{"simsiam after epoch 2", config.SimSiam, nil, epochAt(2), "config restore", false, 0},
		{"simsiam mid epoch 3", config.SimSiam, nil, stepAt(10), "run folder", true, 0},
		{"dino at --max-steps 4, the end of epoch 1", config.DINO, nil, nil, "checkpoint folder", false, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// run trains cfg to its end or to stop, and returns its report
			// with what differs between identical runs cleared.
			run := func(cfg *config.Config, opt Options, stop func(shared.Metric) bool) (any, []shared.Metric, error) {
				if tc.method == config.Supervised {
					rep, recs, err := train(t, cfg, opt, stop)
					return rep, recs, err
				}
				rep, recs, err := pretrain(t, cfg, testPreset(), opt, stop)
				if rep != nil {
					for i := range rep.History {
						rep.History[i].Seconds, rep.History[i].PatchLoss = 0, 0 // not kept for an epoch split by the stop
					}
				}
				return rep, recs, err
			}
			configFor := func(out string) *config.Config {
				if tc.method == config.Supervised {
					return testConfig(t, classifierData, out, tc.edit)
				}
				return pretrainConfig(t, tc.method, pretrainData, out, tc.edit)
			}

			straight := filepath.Join(t.TempDir(), "straight")
			want, wantRecs, err := run(configFor(straight), Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			resumed := filepath.Join(t.TempDir(), "resumed")
			cfg := configFor(resumed)
			if tc.maxSteps > 0 {
				_, recs, err := run(cfg, Options{MaxSteps: tc.maxSteps}, nil)
				if !errors.Is(err, ErrStepLimit) || errors.Is(err, ErrStopped) {
					t.Fatalf("run limited to %d steps returned %v", tc.maxSteps, err)
				}
				if last := lastStep(recs); last != tc.maxSteps {
					t.Fatalf("run limited to %d steps ran %d", tc.maxSteps, last)
				}
			} else if _, _, err := run(cfg, Options{}, tc.stopAt); !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) {
				t.Fatalf("stopped run returned %v", err)
			}
			if tc.crash {
				f, err := os.OpenFile(filepath.Join(resumed, layout.MetricsFile), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(`{"seq":999,"kind":"step","epoch":3,"step":11,"loss":42}` + "\n")
				f.Close()
			}
			var opt Options
			switch tc.via {
			case "run folder":
				opt.Resume = resumed
			case "checkpoint folder":
				opt.Resume = filepath.Join(resumed, layout.LastDir)
			case "config restore":
				cfg.Restore = config.Restore{Restore: true}
			}
			got, _, err := run(cfg, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("resumed report differs:\n got %+v\nwant %+v", got, want)
			}
			gotRecs, err := layout.ReadMetrics(filepath.Join(resumed, layout.MetricsFile))
			if err != nil {
				t.Fatal(err)
			}
			if a, b := results(gotRecs), results(wantRecs); !reflect.DeepEqual(a, b) {
				t.Errorf("resumed metrics differ: %d result records, want %d", len(a), len(b))
			}
			for i, r := range gotRecs {
				if r.Seq != i+1 {
					t.Fatalf("resumed metrics.jsonl: record %d has seq %d", i+1, r.Seq)
				}
			}
			for _, dir := range []string{layout.LastDir, layout.BestDir} {
				if dir == layout.BestDir && tc.method != config.Supervised {
					continue // pretraining keeps checkpoints/last only
				}
				a, b := readTensors(t, layout.Run(straight).Model(dir)), readTensors(t, layout.Run(resumed).Model(dir))
				for name, w := range a {
					if !equalBits(w, b[name]) {
						t.Errorf("%s: tensor %s differs after resuming", dir, name)
					}
				}
			}
			sa, err := ckpt.LoadState(filepath.Join(straight, layout.LastDir))
			if err != nil {
				t.Fatal(err)
			}
			sb, err := ckpt.LoadState(filepath.Join(resumed, layout.LastDir))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sa, sb) {
				for k, v := range sa.Extra {
					if !equalBits(v, sb.Extra[k]) {
						t.Errorf("state %s differs after resuming", k)
					}
				}
				t.Errorf("training state differs after resuming: steps %d/%d, optimiser steps %d/%d", sa.Step, sb.Step, sa.OptimStep, sb.OptimStep)
			}
		})
	}
}

// lastStep is the step of a run's last step record.
func lastStep(recs []shared.Metric) int {
	n := 0
	for _, r := range recs {
		if r.Kind == shared.MetricStep {
			n = r.Step
		}
	}
	return n
}
