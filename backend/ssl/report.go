package ssl

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/nn/ckpt"
)

// Report is a finished classifier run: report.json holds it, report.md
// renders it. Last is the final epoch, the seed's choice; Best the epoch
// with the highest validation AUC (the earliest on ties), a choice made on
// val alone, so its test numbers stay honest.
type Report struct {
	Name          string              `json:"name"`
	Method        config.Method       `json:"method"`
	Backbone      string              `json:"backbone"`
	Labels        string              `json:"labels"`
	TrainImages   int                 `json:"train_images"`
	LinearProbe   bool                `json:"linear_probe"`
	Augment       bool                `json:"augment"`
	Epochs        int                 `json:"epochs"`
	Steps         int                 `json:"steps"`
	Seed          uint64              `json:"seed"`
	Normalization ckpt.Normalization  `json:"normalization"`
	History       []eval.EpochMetrics `json:"history"`
	Last          ModelReport         `json:"last"`
	Best          ModelReport         `json:"best"`
}

// ModelReport is one selected epoch's model on val and test.
type ModelReport struct {
	Epoch      int         `json:"epoch"`
	Checkpoint string      `json:"checkpoint"` // run-relative folder
	Val        eval.Report `json:"val"`
	Test       eval.Report `json:"test"`
}

// report evaluates the last and best epochs, writes report.json and
// report.md, and leaves the model with the last epoch's weights.
func (t *trainer) report(ctx context.Context) (*Report, error) {
	cfg := t.Config
	last, best, err := eval.SelectBest(t.history)
	if err != nil {
		return nil, err
	}
	rep := &Report{Name: cfg.Experiment.Name, Method: cfg.Experiment.Method, Backbone: t.Params.Preset.Name,
		Labels: cfg.Finetune.Labels, TrainImages: t.TrainSet.Len(), LinearProbe: cfg.Finetune.LinearProbe,
		Augment: cfg.Finetune.Augment, Epochs: cfg.Train.Epochs, Steps: t.step, Seed: cfg.Experiment.Seed,
		Normalization: toCkpt(t.Norm), History: t.history}
	opts := eval.Options{Threshold: 0.5, Bootstrap: cfg.Finetune.Bootstrap, Seed: cfg.Experiment.Seed}
	if rep.Last, err = t.evaluate(ctx, "last", last.Epoch, LastDir, opts); err != nil {
		return nil, err
	}
	if best.Epoch == last.Epoch {
		rep.Best = rep.Last
		rep.Best.Checkpoint = BestDir
	} else {
		ts, sc, err := ckpt.Load(filepath.Join(t.Dir, BestDir, ModelFile))
		if err != nil {
			return nil, err
		}
		if sc.Epoch != best.Epoch {
			return nil, fmt.Errorf("ssl: %s holds epoch %d, the best validation AUC is epoch %d's", BestDir, sc.Epoch, best.Epoch)
		}
		if err := setVars(t.vars, ts, BestDir); err != nil {
			return nil, err
		}
		rep.Best, err = t.evaluate(ctx, "best", best.Epoch, BestDir, opts)
		if err != nil {
			return nil, err
		}
		if err := setVars(t.vars, ckpt.ParamTensors(t.Params), LastDir); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("ssl: report: %w", err)
	}
	if err := writeFile(filepath.Join(t.Dir, ReportJSON), append(b, '\n')); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(t.Dir, ReportMD), []byte(rep.Markdown())); err != nil {
		return nil, err
	}
	return rep, t.log.write(Record{Kind: KindLog, Epoch: cfg.Train.Epochs, Step: t.step,
		Message: fmt.Sprintf("finished: last epoch %d, test AUC %.4f; best epoch %d, test AUC %.4f; see %s",
			rep.Last.Epoch, rep.Last.Test.AUC, rep.Best.Epoch, rep.Best.Test.AUC, ReportMD)})
}

// evaluate reports the model's current weights, those of epoch, on val
// and test, with eval records named which.
func (t *trainer) evaluate(ctx context.Context, which string, epoch int, dir string, opts eval.Options) (ModelReport, error) {
	mr := ModelReport{Epoch: epoch, Checkpoint: dir}
	for _, s := range []struct {
		name string
		set  *Set
		dst  *eval.Report
	}{{"val", t.ValSet, &mr.Val}, {"test", t.TestSet, &mr.Test}} {
		r, err := EvaluateSet(ctx, t.m, s.set, opts, nil)
		if err != nil {
			return ModelReport{}, fmt.Errorf("ssl: %s model (epoch %d) on %s: %w", which, epoch, s.name, err)
		}
		*s.dst = r
		if err := t.log.write(Record{Kind: KindEval, Epoch: epoch, Step: t.step, Split: s.name, Model: which,
			Accuracy: num(r.Accuracy), AUC: num(r.AUC)}); err != nil {
			return ModelReport{}, err
		}
	}
	return mr, nil
}

// Markdown renders the report: the two selections side by side, then
// each one's full tables.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Name)
	mode := "all weights trained"
	if r.LinearProbe {
		mode = "linear probe (frozen backbone)"
	}
	fmt.Fprintf(&b, "%s %s, %s; %d labelled train images (labels: %s), %d epochs (%d steps), augmentation %s, seed %d.\n\n",
		r.Method, r.Backbone, mode, r.TrainImages, r.Labels, r.Epochs, r.Steps, onOff(r.Augment), r.Seed)
	b.WriteString("| model | epoch | val accuracy | val AUC | test accuracy | test AUC | test TPR at FPR 1% |\n|---|---|---|---|---|---|---|\n")
	for _, m := range []struct {
		name string
		mr   ModelReport
	}{{"last (the seed's choice)", r.Last}, {"best validation AUC", r.Best}} {
		fmt.Fprintf(&b, "| %s | %d | %.2f%% | %.4f | %.2f%% | %.4f | %.2f%% |\n", m.name, m.mr.Epoch,
			100*m.mr.Val.Accuracy, m.mr.Val.AUC, 100*m.mr.Test.Accuracy, m.mr.Test.AUC, 100*m.mr.Test.TPRAt1)
	}
	for _, m := range []struct {
		name string
		mr   ModelReport
	}{{"Last epoch", r.Last}, {"Best validation epoch", r.Best}} {
		fmt.Fprintf(&b, "\n## %s (epoch %d, %s)\n\n### Test\n\n%s\n### Validation\n\n%s", m.name, m.mr.Epoch, m.mr.Checkpoint,
			m.mr.Test.Markdown(), m.mr.Val.Markdown())
	}
	return b.String()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
