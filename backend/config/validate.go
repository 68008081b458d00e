package config

import (
	"fmt"
	"math"
	"strings"

	"github.com/dustin/go-humanize"
	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/nn/vit"

	"github.com/sslens/sslens/shared"
)

// methodOf reads experiment.ssl_training (required).
func methodOf(root *yaml.Node) (Method, error) {
	var exp, v *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "experiment" {
			exp = root.Content[i+1]
		}
	}
	if exp != nil && exp.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(exp.Content); i += 2 {
			if exp.Content[i].Value == "ssl_training" {
				v = exp.Content[i+1]
			}
		}
	}
	if v == nil || isNone(v) {
		return "", shared.FieldErrorf("experiment.ssl_training", "missing (want one of %s)", strings.Join(strs(Methods), ", "))
	}
	m := Method(strings.ToLower(strings.TrimSpace(v.Value)))
	for _, ok := range Methods {
		if m == ok {
			return m, nil
		}
	}
	return "", shared.FieldErrorf("experiment.ssl_training", "line %d: unknown method %q (want one of %s)", v.Line, v.Value, strings.Join(strs(Methods), ", "))
}

// normalise resolves settings that depend on each other and records
// warnings for accepted-but-ignored ones.
func (c *Config) normalise() error {
	spec, err := gpu.ParseDevice(c.Experiment.Device)
	if err != nil {
		return shared.FieldErrorf("experiment.device", "%v", err)
	}
	c.Experiment.Device = spec.String()
	// The reference configs ask for cuda; pretraining runs on the CPU until
	// the GPU executor has the SSL heads and losses.
	if spec.CUDA && c.IsSSL() {
		c.Warnings = append(c.Warnings, fmt.Sprintf("experiment.device: %s: %s pretraining runs on the CPU; the GPU trains classifiers (supervised, finetune)", spec, c.Experiment.Method))
		c.Experiment.Device = "cpu"
	}
	if c.Experiment.UseMixedPrecision {
		c.Warnings = append(c.Warnings, "experiment.use_mixed_precision: true: sslens trains in float32")
	}
	if c.IsSSL() {
		m, err := c.Augmentation.Method()
		if err != nil {
			return shared.FieldErrorf("ssl augmentation kwargs.augmentation", "%v", err)
		}
		// The reference project uses the DINO augmentation class for iBOT.
		if m == augment.MethodDINO && c.Experiment.Method == IBOT {
			c.Augmentation.Augmentation = string(augment.MethodIBOT)
		}
	}
	c.Network.MaskConfig.Enabled = c.Network.MaskConfig.Enabled && c.Experiment.Method == IBOT
	return nil
}

// IsSSL reports whether c pretrains without labels.
func (c *Config) IsSSL() bool {
	m := c.Experiment.Method
	return m == DINO || m == IBOT || m == SimSiam
}

// Preset returns the backbone preset with the config's dropout settings.
func (c *Config) Preset() (vit.Preset, error) {
	p, err := vit.LookupPreset(c.Network.Backbone)
	if err != nil {
		return vit.Preset{}, shared.FieldErrorf("network.backbone", "%v", err)
	}
	p.DropPath, p.AttnDrop = c.Network.DropPath, c.Network.AttnDrop
	p.ImageSize = c.Input.ImageSize[0]
	return p, nil
}

// Validate checks every value training will use; errors name the key path
// and the allowed values.
func (c *Config) Validate() error {
	p, err := c.Preset()
	if err != nil {
		return err
	}
	in := c.Input
	switch {
	case in.Channels != 3:
		return shared.FieldErrorf("input.channels", "%d: sslens reads 3 bands (g, r, i)", in.Channels)
	case in.ImageSize[0] <= 0 || in.ImageSize[0] != in.ImageSize[1]:
		return shared.FieldErrorf("input.image size", "%v: want a positive square size", in.ImageSize)
	case in.ImageSize[0]%p.PatchSize != 0:
		return shared.FieldErrorf("input.image size", "%d is not a multiple of the patch size %d", in.ImageSize[0], p.PatchSize)
	case in.NumClasses != 2:
		return shared.FieldErrorf("input.num classes", "%d: sslens classifies lens / non-lens (2)", in.NumClasses)
	}
	if err := p.Validate(); err != nil {
		return shared.FieldErrorf("network", "%v", err)
	}
	if !(c.Network.DropPath >= 0 && c.Network.DropPath < 1) {
		return shared.FieldErrorf("network.drop_path", "%v is not in [0, 1)", c.Network.DropPath)
	}
	if !(c.Network.AttnDrop >= 0 && c.Network.AttnDrop < 1) {
		return shared.FieldErrorf("network.attn_drop", "%v is not in [0, 1)", c.Network.AttnDrop)
	}
	if err := c.validateOptimizer(); err != nil {
		return err
	}
	t := c.Train
	switch {
	case t.BatchSize <= 0:
		return shared.FieldErrorf("train args.batch_size", "%d is not positive", t.BatchSize)
	case t.Epochs <= 0:
		return shared.FieldErrorf("train args.num_epochs", "%d is not positive", t.Epochs)
	case t.KNNNeighbours <= 0:
		return shared.FieldErrorf("train args.knn_neighbours", "%d is not positive", t.KNNNeighbours)
	case t.FreezeLastLayer < 0:
		return shared.FieldErrorf("train args.freeze_last_layer", "%d is negative", t.FreezeLastLayer)
	case t.MicroBatch < 0:
		return shared.FieldErrorf("train args.micro_batch", "%d is negative (0: chosen from max_memory, or the whole batch)", t.MicroBatch)
	case c.Experiment.LogFreq <= 0:
		return shared.FieldErrorf("experiment.log_freq", "%d is not positive", c.Experiment.LogFreq)
	}
	if err := c.validateUpper(p.PatchSize); err != nil {
		return err
	}
	if _, err := t.MemoryBudget(); err != nil {
		return err
	}
	if c.IsSSL() {
		return c.validateSSL()
	}
	return c.validateFinetune()
}

// Upper bounds of the sizes a config sets, each well above what the
// reference configs use, so that a config sent to the portal cannot ask for
// unbounded memory or time.
const (
	MaxPatches   = 1024    // (input image size / patch size)^2 tokens per image
	MaxBatchSize = 4096    // images per step
	MaxEpochs    = 10000   // num_epochs
	MaxKNN       = 1000    // knn_neighbours
	MaxHeadDim   = 65536   // DINO's largest head_output_dim; every head and projector width
	MaxLayers    = 16      // head_nlayers, projector_head_nlayers
	MaxBootstrap = 100_000 // finetune.bootstrap resamples
)

// validateUpper checks the sizes of c against their upper bounds; patch is
// the backbone's patch size in pixels.
func (c *Config) validateUpper(patch int) error {
	if size := c.Input.ImageSize[0]; size > data.MaxSide || (size/patch)*(size/patch) > MaxPatches {
		return shared.FieldErrorf("input.image size", "%d px makes %d patches of %d px; want at most %d patches and %d px",
			size, (size/patch)*(size/patch), patch, MaxPatches, data.MaxSide)
	}
	n, t := c.Network, c.Train
	for _, f := range []struct {
		key    string
		v, max int
	}{
		{"train args.batch_size", t.BatchSize, MaxBatchSize},
		{"train args.num_epochs", t.Epochs, MaxEpochs},
		{"train args.knn_neighbours", t.KNNNeighbours, MaxKNN},
		{"network.head_output_dim", n.HeadOutputDim, MaxHeadDim},
		{"network.head_hidden_dim", n.HeadHiddenDim, MaxHeadDim},
		{"network.head_bottleneck_dim", n.HeadBottleneckDim, MaxHeadDim},
		{"network.patch_out_dim", n.PatchOutDim, MaxHeadDim},
		{"network.projector_head_hidden_dim", n.ProjectorHiddenDim, MaxHeadDim},
		{"network.predictor_head_hidden_dim", n.PredictorHiddenDim, MaxHeadDim},
		{"network.head_nlayers", n.HeadNLayers, MaxLayers},
		{"network.projector_head_nlayers", n.ProjectorNLayers, MaxLayers},
		{"finetune.bootstrap", c.Finetune.Bootstrap, MaxBootstrap},
	} {
		if f.v > f.max {
			return shared.FieldErrorf(f.key, "%d is more than %d", f.v, f.max)
		}
	}
	return nil
}

func (c *Config) validateOptimizer() error {
	o := c.Optimizer
	switch o.Name {
	case "Adam", "AdamW", "SGD":
	default:
		return shared.FieldErrorf("optimizer.optimizer", "%q is not Adam, AdamW or SGD", o.Name)
	}
	for _, f := range []struct {
		key      string
		v        float64
		positive bool
	}{
		{"init_lr", o.InitLR, true}, {"final_lr", o.FinalLR, false},
		{"init_wd", o.InitWD, false}, {"final_wd", o.FinalWD, false},
		{"clip_grad_magnitude", o.ClipGrad, false},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 || (f.positive && f.v == 0) {
			want := "a non-negative number"
			if f.positive {
				want = "a positive number"
			}
			return shared.FieldErrorf("optimizer."+f.key, "%v: want %s", f.v, want)
		}
	}
	if o.WarmupEpochs < 0 || o.WarmupEpochs > c.Train.Epochs {
		return shared.FieldErrorf("optimizer.scheduler_warmup_epochs", "%d is not within [0, num_epochs %d]", o.WarmupEpochs, c.Train.Epochs)
	}
	return nil
}

func (c *Config) validateSSL() error {
	o := c.Optimizer
	if _, err := c.Augmentation.Validate(); err != nil {
		return err
	}
	size := c.Input.ImageSize[0]
	for _, f := range []struct {
		key string
		v   int
	}{
		{"center_crop", c.Augmentation.CenterCrop},
		{"global_crop_size", c.Augmentation.GlobalCropSize},
		{"local_crop_size", c.Augmentation.LocalCropSize},
		{"crop_size", c.Augmentation.CropSize},
	} {
		if f.v > size && f.key != "center_crop" {
			return shared.FieldErrorf("ssl augmentation kwargs."+f.key, "%d is larger than input.image size %d", f.v, size)
		}
	}
	if c.Network.MaskConfig.Enabled {
		if err := c.Network.MaskConfig.Validate(c.Augmentation.GlobalCropSize); err != nil {
			return err
		}
	}
	if c.Experiment.Method == SimSiam {
		return nil
	}
	switch {
	case !(o.MomentumTeacher >= 0 && o.MomentumTeacher <= 1):
		return shared.FieldErrorf("optimizer.momentum_teacher", "%v is not in [0, 1]", o.MomentumTeacher)
	case !(o.TeacherTemp > 0) || !(o.WarmupTeacherTemp > 0):
		return shared.FieldErrorf("optimizer.teacher_temp", "%v (warm-up %v): want positive temperatures", o.TeacherTemp, o.WarmupTeacherTemp)
	case o.WarmupTeacherTempEpochs < 0 || o.WarmupTeacherTempEpochs > c.Train.Epochs:
		return shared.FieldErrorf("optimizer.warmup_teacher_temp_epochs", "%d is not within [0, num_epochs %d]", o.WarmupTeacherTempEpochs, c.Train.Epochs)
	case c.Network.HeadOutputDim <= 0 || c.Network.HeadHiddenDim <= 0 || c.Network.HeadBottleneckDim <= 0:
		return shared.FieldErrorf("network.head_output_dim/head_hidden_dim/head_bottleneck_dim", "want positive sizes")
	}
	return nil
}

func (c *Config) validateFinetune() error {
	f := c.Finetune
	ok := false
	for _, l := range LabelCounts {
		ok = ok || f.Labels == l
	}
	switch {
	case !ok:
		return shared.FieldErrorf("finetune.labels", "%q is not one of %s", f.Labels, strings.Join(LabelCounts, ", "))
	case f.LinearProbe && c.Experiment.Method == Supervised:
		return shared.FieldErrorf("finetune.linear_probe", "a linear probe needs a pretrained backbone (ssl_training finetune)")
	case f.Bootstrap < 0:
		return shared.FieldErrorf("finetune.bootstrap", "%d is negative", f.Bootstrap)
	case f.EvalEvery <= 0:
		return shared.FieldErrorf("finetune.eval_every", "%d is not positive", f.EvalEvery)
	case f.Normalise != "" && f.Normalise != NormaliseShared && f.Normalise != NormaliseOwn:
		return shared.FieldErrorf("finetune.normalise", "%q: want shared or own", f.Normalise)
	}
	for i, d := range f.Datasets {
		switch {
		case strings.TrimSpace(d.Path) == "":
			return shared.FieldErrorf(fmt.Sprintf("finetune.datasets[%d].path", i), "empty: name a labelled dataset folder")
		case d.Weight < 0 || math.IsNaN(d.Weight) || math.IsInf(d.Weight, 0) || d.Weight > MaxDatasetWeight:
			return shared.FieldErrorf(fmt.Sprintf("finetune.datasets[%d].weight", i), "%v: want a weight above 0 and at most %d (0 or absent: 1)", d.Weight, MaxDatasetWeight)
		}
	}
	return nil
}

// MaxDatasetWeight bounds finetune.datasets[].weight: an epoch repeats a
// dataset's images that many times.
const MaxDatasetWeight = 100

// Overrides are command-line values that replace config fields when set.
type Overrides struct {
	Data, Indices, Checkpoint, Output string
	MicroBatch                        int    // replaces train args.micro_batch when > 0
	MaxMemory                         string // replaces train args.max_memory when not empty
	Device                            string // replaces experiment.device when not empty
}

// Resolve applies o and checks the inputs a run cannot start without; call
// it after Load, before training.
func (c *Config) Resolve(o Overrides) error {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.Input.DataPath, o.Data)
	set(&c.Input.Indices, o.Indices)
	set(&c.Finetune.Checkpoint, o.Checkpoint)
	set(&c.Experiment.OutputDir, o.Output)
	set(&c.Train.MaxMemory, o.MaxMemory)
	if o.MicroBatch > 0 {
		c.Train.MicroBatch = o.MicroBatch
	}
	if o.Device != "" {
		spec, err := gpu.ParseDevice(o.Device)
		if err != nil {
			return shared.FieldErrorf("--device", "%v", err)
		}
		if spec.CUDA && c.IsSSL() {
			return shared.FieldErrorf("--device", "%s: %s pretraining does not run on a GPU yet; the GPU trains classifiers (supervised, finetune)", spec, c.Experiment.Method)
		}
		c.Experiment.Device = spec.String()
	}
	if _, err := c.Train.MemoryBudget(); err != nil {
		return err
	}
	switch {
	case c.Input.DataPath == "":
		return shared.FieldErrorf("input.data path", "empty; set it in the config or pass --data DIR")
	case c.Experiment.Method == Finetune && c.Finetune.Checkpoint == "" && !c.Restore.Restore:
		return shared.FieldErrorf("finetune.checkpoint", "required for ssl_training finetune (a pretrained model.safetensors); set it or pass --checkpoint, or use ssl_training supervised to train from random init")
	case c.Experiment.Method == Supervised && c.Finetune.Checkpoint != "":
		return shared.FieldErrorf("finetune.checkpoint", "%q given, but ssl_training is supervised (random init); use finetune", c.Finetune.Checkpoint)
	}
	return nil
}

// MemoryBudget parses max_memory ("6GiB", "6 GB", "6000MB"): bytes, 0 when
// empty.
func (t Train) MemoryBudget() (int64, error) {
	if t.MaxMemory == "" {
		return 0, nil
	}
	b, err := humanize.ParseBytes(t.MaxMemory)
	if err != nil || b == 0 || b > math.MaxInt64 {
		return 0, shared.FieldErrorf("train args.max_memory", "%q is not a memory size such as 6GiB or 512MB", t.MaxMemory)
	}
	return int64(b), nil
}

// Budget is the memory a step of this config may take under limit, a
// server's memory per job (0: none): the smaller of max_memory and limit,
// 0 when neither is set.
func (t Train) Budget(limit int64) (int64, error) {
	own, err := t.MemoryBudget()
	if err != nil || limit <= 0 || (own > 0 && own <= limit) {
		return own, err
	}
	return limit, nil
}
