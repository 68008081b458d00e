package ssl

import (
	"fmt"
	"path"
	"strings"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/shared"
)

// PretrainEpoch is one epoch of a pretraining run.
type PretrainEpoch struct {
	Epoch     int     `json:"epoch"`
	Loss      float64 `json:"loss"`                 // mean over the epoch's steps
	PatchLoss float64 `json:"patch_loss,omitempty"` // iBOT: the masked-patch part of Loss
	LR        float64 `json:"lr"`                   // at the epoch's last step
	Seconds   float64 `json:"seconds"`              // training steps only; 0 for an epoch split by a resume
	Health    Health  `json:"health"`
	// KNNAccuracy and KNNAUC are the kNN monitor's on val, when it ran
	// after this epoch.
	KNNAccuracy *float64 `json:"knn_accuracy,omitempty"`
	KNNAUC      *float64 `json:"knn_auc,omitempty"`
}

// PretrainReport is a finished pretraining run, written to
// pretrain_report.json and rendered to pretrain_report.md.
type PretrainReport struct {
	Name     string        `json:"name"`
	Method   config.Method `json:"method"`
	Backbone string        `json:"backbone"`
	// Model is the run-relative checkpoint downstream runs load and
	// Network says whose backbone it holds: teacher or student.
	Model         string             `json:"model"`
	Network       string             `json:"network"`
	Epochs        int                `json:"epochs"`
	Steps         int                `json:"steps"`
	Seed          uint64             `json:"seed"`
	TrainImages   int                `json:"train_images"`
	Normalization ckpt.Normalization `json:"normalization"`
	History       []PretrainEpoch    `json:"history"`
	// KNN is the final kNN monitor on val.
	KNN eval.Report `json:"knn"`
}

// report writes pretrain_report.json and .md.
func (t *pretrainer) report() (*PretrainReport, error) {
	cfg := t.Config
	rep := &PretrainReport{Name: cfg.Experiment.Name, Method: cfg.Experiment.Method, Backbone: t.m.evalParams().Preset.Name,
		Model: path.Join(layout.LastDir, layout.ModelFile), Network: t.m.network(), Epochs: cfg.Train.Epochs, Steps: t.step,
		Seed: cfg.Experiment.Seed, TrainImages: len(t.raw), Normalization: toCkpt(t.Norm), History: t.history}
	if t.knn != nil {
		rep.KNN = *t.knn
	}
	if err := writeJSON(t.run().Path(layout.PretrainReportJSON), rep); err != nil {
		return nil, err
	}
	if err := writeFile(t.run().Path(layout.PretrainReportMD), []byte(rep.Markdown())); err != nil {
		return nil, err
	}
	return rep, t.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: cfg.Train.Epochs, Step: t.step,
		Message: fmt.Sprintf("finished: kNN on val accuracy %.2f%%, AUC %.4f; the %s backbone is in %s; see %s",
			100*rep.KNN.Accuracy, rep.KNN.AUC, rep.Network, rep.Model, layout.PretrainReportMD)})
}

// Markdown renders the report: the run, then one row per epoch.
func (r *PretrainReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Name)
	fmt.Fprintf(&b, "%s pretraining of %s on %d train images, %d epochs (%d steps), seed %d. %s holds the %s backbone.\n\n",
		r.Method, r.Backbone, r.TrainImages, r.Epochs, r.Steps, r.Seed, r.Model, r.Network)
	fmt.Fprintf(&b, "Final kNN monitor on val: accuracy %.2f%%, AUC %.4f.\n\n", 100*r.KNN.Accuracy, r.KNN.AUC)
	b.WriteString("| epoch | loss | lr | kNN accuracy | kNN AUC | health | collapse |\n|---|---|---|---|---|---|---|\n")
	for _, e := range r.History {
		acc, auc := "", ""
		if e.KNNAccuracy != nil {
			acc, auc = fmt.Sprintf("%.2f%%", 100**e.KNNAccuracy), fmt.Sprintf("%.4f", *e.KNNAUC)
		}
		fmt.Fprintf(&b, "| %d | %.4f | %.3g | %s | %s | %s | %s |\n", e.Epoch, e.Loss, e.LR, acc, auc, e.Health, e.Health.Collapse)
	}
	return b.String()
}
