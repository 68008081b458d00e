package layout

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/nn/ckpt"
)

// Report is a finished classifier run: report.json holds it, report.md
// renders it. Last is the final epoch, the reference protocol's choice;
// Best the epoch with the highest validation AUC (the earliest on ties), a
// choice made on val alone, so its test numbers stay honest.
type Report struct {
	Name          string              `json:"name"`
	Method        string              `json:"method"` // supervised, dino, ibot or simsiam
	Backbone      string              `json:"backbone"`
	Labels        string              `json:"labels"` // 300, 600, 1200 or all
	TrainImages   int                 `json:"train_images"`
	LinearProbe   bool                `json:"linear_probe"`
	Augment       bool                `json:"augment"`
	Epochs        int                 `json:"epochs"`
	Steps         int                 `json:"steps"`
	Seed          uint64              `json:"seed"`
	Device        string              `json:"device,omitempty"` // cpu or cuda:N; empty in reports from before it was recorded
	Normalization ckpt.Normalization  `json:"normalization"`
	History       []eval.EpochMetrics `json:"history"`
	Last          ModelReport         `json:"last"`
	Best          ModelReport         `json:"best"`
}

// ModelReport is one selected epoch's model on val and test.
type ModelReport struct {
	Epoch      int         `json:"epoch"`
	Checkpoint string      `json:"checkpoint"` // run-relative folder (LastDir or BestDir)
	Val        eval.Report `json:"val"`
	Test       eval.Report `json:"test"`
}

// WriteReport writes rep as the run's report.json and report.md,
// atomically each.
func (r Run) WriteReport(rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", r.Path(ReportJSON), err)
	}
	if err := atomicfile.WriteBytes(r.Path(ReportJSON), append(b, '\n')); err != nil {
		return err
	}
	return atomicfile.WriteBytes(r.Path(ReportMD), []byte(rep.Markdown()))
}

// ReadReport reads the run's report.json.
func (r Run) ReadReport() (*Report, error) {
	b, err := os.ReadFile(r.Path(ReportJSON))
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", r.Path(ReportJSON), err)
	}
	return &rep, nil
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
	device := ""
	if r.Device != "" {
		device = ", on " + r.Device
	}
	fmt.Fprintf(&b, "%s %s, %s; %d labelled train images (labels: %s), %d epochs (%d steps), augmentation %s, seed %d%s.\n\n",
		r.Method, r.Backbone, mode, r.TrainImages, r.Labels, r.Epochs, r.Steps, onOff(r.Augment), r.Seed, device)
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
