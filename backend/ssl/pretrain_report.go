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
	// KNNAccuracy and KNNAUC are the kNN monitor's on val voting with
	// every train label, KNNFewAUC its mean AUC voting with FewLabels of
	// them, when it ran after this epoch.
	KNNAccuracy *float64 `json:"knn_accuracy,omitempty"`
	KNNAUC      *float64 `json:"knn_auc,omitempty"`
	KNNFewAUC   *float64 `json:"knn_few_auc,omitempty"`
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
	// KNN is the final kNN monitor on val and PixelKNN the same monitor
	// with the normalised pixels as features: the floor KNN must clear.
	KNN      KNNReading `json:"knn"`
	PixelKNN KNNReading `json:"pixel_knn"`
	// VsPixels is KNN's gain over PixelKNN on the same val images.
	VsPixels KNNGain `json:"vs_pixels"`
}

// report writes pretrain_report.json and .md.
func (t *pretrainer) report() (*PretrainReport, error) {
	cfg := t.Config
	rep := &PretrainReport{Name: cfg.Experiment.Name, Method: cfg.Experiment.Method, Backbone: t.m.evalParams().Preset.Name,
		Model: path.Join(layout.LastDir, layout.ModelFile), Network: t.m.network(), Epochs: cfg.Train.Epochs, Steps: t.step,
		Seed: cfg.Experiment.Seed, TrainImages: len(t.raw), Normalization: toCkpt(t.Norm), History: t.history}
	if t.knn != nil {
		rep.KNN, rep.PixelKNN, rep.VsPixels = *t.knn, *t.pixelKNN, t.gain
	}
	if err := writeJSON(t.run().Path(layout.PretrainReportJSON), rep); err != nil {
		return nil, err
	}
	if err := writeFile(t.run().Path(layout.PretrainReportMD), []byte(rep.Markdown())); err != nil {
		return nil, err
	}
	return rep, t.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: cfg.Train.Epochs, Step: t.step,
		Message: fmt.Sprintf("finished: kNN on val accuracy %.2f%%, AUC %.4f; the %s backbone is in %s; see %s",
			100*rep.KNN.All.Accuracy, rep.KNN.All.AUC, rep.Network, rep.Model, layout.PretrainReportMD)})
}

// Markdown renders the report: the run, then one row per epoch.
func (r *PretrainReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Name)
	fmt.Fprintf(&b, "%s pretraining of %s on %d train images, %d epochs (%d steps), seed %d. %s holds the %s backbone.\n\n",
		r.Method, r.Backbone, r.TrainImages, r.Epochs, r.Steps, r.Seed, r.Model, r.Network)
	fmt.Fprintf(&b, "Final kNN monitor on val, voting with every train label: accuracy %.2f%%, AUC %s; the normalised pixels as features: AUC %.4f; the gain over them %s.\n",
		100*r.KNN.All.Accuracy, aucText(r.KNN.All.AUC, r.KNN.All.AUCCI), r.PixelKNN.All.AUC, diffText(r.VsPixels.All))
	if few := r.VsPixels.Few; few != nil {
		fmt.Fprintf(&b, "Voting with %d labelled train images (the %d-label fine-tuning subsets of subset seeds 0-%d): AUC %.4f (%s); the pixels: %.4f (%s); the gain %s.\n",
			FewLabels, FewLabels, len(r.KNN.FewAUCs)-1, r.KNN.FewAUC, aucList(r.KNN.FewAUCs), r.PixelKNN.FewAUC, aucList(r.PixelKNN.FewAUCs), diffText(*few))
	}
	b.WriteString("The gains' intervals are paired bootstraps over the val images (and the draws), the two sides on the same images.\n")
	fmt.Fprintf(&b, "\n| epoch | loss | lr | kNN accuracy | kNN AUC | kNN AUC, %d labels | health | collapse |\n|---|---|---|---|---|---|---|---|\n", FewLabels)
	for _, e := range r.History {
		acc, auc, few := "", "", ""
		if e.KNNAccuracy != nil {
			acc, auc = fmt.Sprintf("%.2f%%", 100**e.KNNAccuracy), fmt.Sprintf("%.4f", *e.KNNAUC)
		}
		if e.KNNFewAUC != nil {
			few = fmt.Sprintf("%.4f", *e.KNNFewAUC)
		}
		fmt.Fprintf(&b, "| %d | %.4f | %.3g | %s | %s | %s | %s | %s |\n", e.Epoch, e.Loss, e.LR, acc, auc, few, e.Health, e.Health.Collapse)
	}
	return b.String()
}

// aucText is an AUC with its 95% interval when it has one.
func aucText(auc float64, ci *eval.Interval) string {
	if ci == nil {
		return fmt.Sprintf("%.4f", auc)
	}
	return fmt.Sprintf("%.4f (95%% %.3f-%.3f)", auc, ci.Lo, ci.Hi)
}

// diffText is a paired AUC difference with its interval.
func diffText(d eval.Diff) string {
	return fmt.Sprintf("%+.4f (%g%% %+.3f to %+.3f)", d.Diff, 100*d.Level, d.CI.Lo, d.CI.Hi)
}

// aucList is one AUC per draw.
func aucList(aucs []float64) string {
	parts := make([]string, len(aucs))
	for i, a := range aucs {
		parts[i] = fmt.Sprintf("%.4f", a)
	}
	return strings.Join(parts, ", ")
}
