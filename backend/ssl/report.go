package ssl

import (
	"context"
	"fmt"

	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/shared"
)

// report evaluates the last and best epochs, writes report.json and
// report.md, and leaves the model with the last epoch's weights.
func (t *trainer) report(ctx context.Context) (*layout.Report, error) {
	cfg := t.Config
	last, best, err := eval.SelectBest(t.history)
	if err != nil {
		return nil, err
	}
	rep := &layout.Report{Name: cfg.Experiment.Name, Method: string(cfg.Experiment.Method), Backbone: t.Params.Preset.Name,
		Labels: cfg.Finetune.Labels, TrainImages: t.TrainSet.Len(), LinearProbe: cfg.Finetune.LinearProbe,
		Augment: cfg.Finetune.Augment, Epochs: cfg.Train.Epochs, Steps: t.step, Seed: cfg.Experiment.Seed, Device: cfg.Experiment.Device,
		Normalization: toCkpt(t.Norm), History: t.history}
	opts := eval.Options{Threshold: 0.5, Bootstrap: cfg.Finetune.Bootstrap, Seed: cfg.Experiment.Seed}
	if rep.Last, err = t.evaluate(ctx, "last", last.Epoch, layout.LastDir, opts); err != nil {
		return nil, err
	}
	if best.Epoch == last.Epoch {
		rep.Best = rep.Last
		rep.Best.Checkpoint = layout.BestDir
	} else {
		ts, sc, err := ckpt.Load(t.run().Model(layout.BestDir))
		if err != nil {
			return nil, err
		}
		if sc.Epoch != best.Epoch {
			return nil, fmt.Errorf("ssl: %s holds epoch %d, the best validation AUC is epoch %d's", layout.BestDir, sc.Epoch, best.Epoch)
		}
		if err := t.setWeights(ts, layout.BestDir); err != nil {
			return nil, err
		}
		rep.Best, err = t.evaluate(ctx, "best", best.Epoch, layout.BestDir, opts)
		if err != nil {
			return nil, err
		}
		if err := t.setWeights(ckpt.ParamTensors(t.Params), layout.LastDir); err != nil {
			return nil, err
		}
	}
	if err := t.run().WriteReport(rep); err != nil {
		return nil, fmt.Errorf("ssl: %w", err)
	}
	return rep, t.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: cfg.Train.Epochs, Step: t.step,
		Message: fmt.Sprintf("finished: last epoch %d, test AUC %.4f; best epoch %d, test AUC %.4f; see %s",
			rep.Last.Epoch, rep.Last.Test.AUC, rep.Best.Epoch, rep.Best.Test.AUC, layout.ReportMD)})
}

// setWeights makes the model compute with tensors (a checkpoint's, from):
// into its Vars, then onto its device when it has one.
func (t *trainer) setWeights(tensors []ckpt.Tensor, from string) error {
	if err := setVars(t.vars, tensors, from); err != nil {
		return err
	}
	if t.device != nil {
		return t.device.PushParams()
	}
	return nil
}

// evaluate reports the model's current weights, those of epoch, on val
// and test, with eval records named which.
func (t *trainer) evaluate(ctx context.Context, which string, epoch int, dir string, opts eval.Options) (layout.ModelReport, error) {
	mr := layout.ModelReport{Epoch: epoch, Checkpoint: dir}
	for _, s := range []struct {
		name string
		set  *Set
		dst  *eval.Report
	}{{"val", t.ValSet, &mr.Val}, {"test", t.TestSet, &mr.Test}} {
		r, err := EvaluateSet(ctx, t.m, s.set, opts, nil)
		if err != nil {
			return layout.ModelReport{}, fmt.Errorf("ssl: %s model (epoch %d) on %s: %w", which, epoch, s.name, err)
		}
		*s.dst = r
		if err := t.log.write(shared.Metric{Kind: shared.MetricEval, Epoch: epoch, Step: t.step, Split: s.name, Model: which,
			Accuracy: new(r.Accuracy), AUC: new(r.AUC)}); err != nil {
			return layout.ModelReport{}, err
		}
	}
	return mr, nil
}
