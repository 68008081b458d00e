package shared

// Interval is a 95% bootstrap confidence interval.
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// ROCPoint is one point of a ROC curve, lens positive.
type ROCPoint struct {
	FPR       float64 `json:"fpr"`
	TPR       float64 `json:"tpr"`
	Threshold float64 `json:"threshold"`
}

// ResultRow is the test-split evaluation of one model (the last or best
// epoch) of one finished classifier run, from its report.json.
type ResultRow struct {
	Run         int64  `json:"run"`
	RunName     string `json:"run_name"`
	Method      string `json:"method"`             // supervised, finetune
	Pretrain    string `json:"pretrain,omitempty"` // the method of the pretrained backbone, when known
	Backbone    string `json:"backbone"`           // vit_nano, vit_tiny, ...
	Labels      string `json:"labels"`             // 300, 600, 1200, all
	TrainImages int    `json:"train_images"`
	LinearProbe bool   `json:"linear_probe"`
	Model       string `json:"model"` // last or best
	Epoch       int    `json:"epoch"`
	Checkpoint  int64  `json:"checkpoint,omitempty"` // its Checkpoint.ID, when stored

	N          int        `json:"n"` // test images
	Accuracy   float64    `json:"accuracy"`
	AccuracyCI *Interval  `json:"accuracy_ci,omitempty"`
	AUC        float64    `json:"auc"`
	AUCCI      *Interval  `json:"auc_ci,omitempty"`
	TPRAt1     float64    `json:"tpr_at_fpr_1pct"`
	TPRAt01    float64    `json:"tpr_at_fpr_0_1pct"`
	TPR0       float64    `json:"tpr0"`
	ROC        []ROCPoint `json:"roc,omitempty"` // only with ?roc=1 or from /api/results/{run}
}

// Results answers GET /api/results.
type Results struct {
	Rows []ResultRow `json:"rows"`
}
