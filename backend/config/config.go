// Package config reads experiment configs: the reference project's YAML
// schema (sections experiment, input, network, optimizer, restore,
// ssl augmentation kwargs, train args; keys with spaces; None as a string)
// plus sslens's own finetune section. Unknown keys are warnings naming the
// key path; invalid values are errors naming the key path and the allowed
// values, reported before any training starts.
//
// It also reads the reproduce config (ReproduceConfig: the matrix `sslens
// reproduce` runs, a schema of sslens's own, so unknown keys are errors)
// and the reference project's published results (ParseReference), both
// without linking the training engine, so the server can check them. One
// key-path decoder (yaml.go) serves both schemas.
package config

import (
	"fmt"
	"os"
	"reflect"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/augment"
)

// Method is what a config trains: a self-supervised method, or a classifier
// (supervised from random init, or fine-tuned from a checkpoint).
type Method string

const (
	Supervised Method = "supervised"
	Finetune   Method = "finetune"
	DINO       Method = "dino"
	IBOT       Method = "ibot"
	SimSiam    Method = "simsiam"
)

// Methods lists the accepted experiment.ssl_training values.
var Methods = []Method{Supervised, Finetune, DINO, IBOT, SimSiam}

// Config is one experiment. Field tags are the YAML keys.
type Config struct {
	Experiment   Experiment     `yaml:"experiment"`
	Input        Input          `yaml:"input"`
	Network      Network        `yaml:"network"`
	Optimizer    Optimizer      `yaml:"optimizer"`
	Restore      Restore        `yaml:"restore"`
	Augmentation augment.Config `yaml:"ssl augmentation kwargs"`
	Train        Train          `yaml:"train args"`
	Finetune     FinetuneArgs   `yaml:"finetune"`

	// Warnings collects unknown keys and ignored settings found while loading.
	Warnings []string `yaml:"-"`
}

type Experiment struct {
	Seed              uint64 `yaml:"seed"`
	Device            string `yaml:"device"` // cpu or cuda:N (cuda is cuda:0); pretraining runs on the CPU with a warning
	Name              string `yaml:"expt_name"`
	LogFreq           int    `yaml:"log_freq"` // epochs between kNN monitors and checkpoints
	OutputDir         string `yaml:"output_dir"`
	Method            Method `yaml:"ssl_training"`
	UseMixedPrecision bool   `yaml:"use_mixed_precision"` // accepted; sslens trains in float32
}

type Input struct {
	Channels   int    `yaml:"channels"`
	DataPath   string `yaml:"data path"`
	Indices    string `yaml:"indices"` // indices.pkl or splits.json; empty: DataPath's own
	ImageSize  [2]int `yaml:"image size"`
	NumClasses int    `yaml:"num classes"`
}

type Network struct {
	Backbone string  `yaml:"backbone"`  // vit_nano, vit_tiny, vit_small, vit_base (or ViT-S/8 ...)
	DropPath float64 `yaml:"drop_path"` // sslens: stochastic depth at the last block
	AttnDrop float64 `yaml:"attn_drop"` // sslens: attention-probability dropout

	// DINO / iBOT head.
	HeadBottleneckDim int  `yaml:"head_bottleneck_dim"`
	HeadHiddenDim     int  `yaml:"head_hidden_dim"`
	HeadNLayers       int  `yaml:"head_nlayers"`
	HeadNormLastLayer bool `yaml:"head_norm_last_layer"`
	HeadOutputDim     int  `yaml:"head_output_dim"`
	HeadUseBN         bool `yaml:"head_use_bn"`
	PatchOutDim       int  `yaml:"patch_out_dim"`
	SharedHead        bool `yaml:"shared_head"`
	SharedHeadTeacher bool `yaml:"shared_head_teacher"`
	ReturnAllTokens   bool `yaml:"return_all_tokens"`
	PredSize          int  `yaml:"pred_size"`
	// iBOT masking: patch_size, masked_im_modeling, pred_ratio ...
	augment.MaskConfig `yaml:",inline"`

	// SimSiam projector and predictor.
	ProjectorHiddenDim int  `yaml:"projector_head_hidden_dim"`
	ProjectorNLayers   int  `yaml:"projector_head_nlayers"`
	ProjectorUseBN     bool `yaml:"projector_use_bn"`
	PredictorHiddenDim int  `yaml:"predictor_head_hidden_dim"` // 0: the seed's single Linear

	// Reference-project keys for other backbones; accepted and unused.
	UseDensePrediction bool   `yaml:"use_dense_prediction"`
	WindowSize         string `yaml:"window_size"`
	APE                string `yaml:"ape"`
	UseL1              bool   `yaml:"use_L1"`
}

type Optimizer struct {
	Name                    string  `yaml:"optimizer"` // Adam, AdamW, SGD
	InitLR                  float64 `yaml:"init_lr"`
	FinalLR                 float64 `yaml:"final_lr"`
	InitWD                  float64 `yaml:"init_wd"`
	FinalWD                 float64 `yaml:"final_wd"`
	WarmupEpochs            int     `yaml:"scheduler_warmup_epochs"`
	MomentumTeacher         float64 `yaml:"momentum_teacher"`
	TeacherTemp             float64 `yaml:"teacher_temp"`
	WarmupTeacherTemp       float64 `yaml:"warmup_teacher_temp"`
	WarmupTeacherTempEpochs int     `yaml:"warmup_teacher_temp_epochs"`
	TeacherPatchTemp        float64 `yaml:"teacher_patch_temp"`
	WarmupTeacherPatchTemp  float64 `yaml:"warmup_teacher_patch_temp"`
	ClipGrad                float64 `yaml:"clip_grad_magnitude"` // global-norm clip; 0 off
	Lambda1                 float64 `yaml:"lambda1"`
	Lambda2                 float64 `yaml:"lambda2"`
	// DecayAll restores the reference project's weight decay on biases and norms.
	DecayAll bool `yaml:"decay_all"`
	// ScaleLRByBatch multiplies init_lr by batch_size/256, DINO's linear
	// scaling rule; the reference project (and sslens by default) uses
	// init_lr as the peak rate.
	ScaleLRByBatch bool `yaml:"scale_lr_by_batch"`
}

type Restore struct {
	CkptPath string `yaml:"ckpt_path"`
	Restore  bool   `yaml:"restore"`
}

type Train struct {
	KNNNeighbours   int        `yaml:"knn_neighbours"`
	BatchSize       int        `yaml:"batch_size"`
	Epochs          int        `yaml:"num_epochs"`
	FreezeLastLayer int        `yaml:"freeze_last_layer"`
	TrainValSplit   [2]float64 `yaml:"train_val_split"` // accepted; splits come from the indices file
	// MicroBatch runs the backbone over this many images at a time within a
	// step (gradient accumulation; the heads and loss still see the whole
	// batch); 0 lets max_memory choose, or runs the batch at once.
	MicroBatch int `yaml:"micro_batch,omitempty"`
	// MaxMemory is the memory a step may take, e.g. "6GiB": the largest
	// micro-batch that fits is chosen. Empty: no budget.
	MaxMemory string `yaml:"max_memory,omitempty"`
	// KNNDataset is a labelled dataset folder whose train and val splits
	// the pretraining kNN monitor uses instead of the training data's:
	// required when that is unlabelled (imported survey cutouts). A
	// relative path is taken from the folder holding the training
	// dataset, so a sibling dataset is named by its folder name.
	KNNDataset string `yaml:"knn_dataset,omitempty"`
}

// FinetuneArgs is sslens's section for classifiers (supervised and finetune).
type FinetuneArgs struct {
	Checkpoint  string `yaml:"checkpoint"`   // pretrained backbone; required for finetune
	Labels      string `yaml:"labels"`       // 300, 600, 1200 or all
	SubsetSeed  uint64 `yaml:"subset_seed"`  // seed of the leak-free labelled subsets
	SubsetFile  string `yaml:"subset_file"`  // explicit train_indices file instead of drawing
	LinearProbe bool   `yaml:"linear_probe"` // freeze the backbone, train the head only
	Augment     bool   `yaml:"augment"`      // flips during training (off: the seed's protocol)
	Bootstrap   int    `yaml:"bootstrap"`    // resamples for 95% intervals
	EvalEvery   int    `yaml:"eval_every"`   // epochs between validation passes
	// Datasets are more labelled datasets whose train splits join the
	// training images, each with its weight; validation and test stay the
	// data path's, so results compare across runs.
	Datasets []TrainingDataset `yaml:"datasets,omitempty"`
	// Normalise is how the extra datasets are normalised: "shared" (the
	// default) with the run's normalisation, the one its checkpoint records
	// and scoring applies; "own" with each dataset's train statistics,
	// for datasets in other units (scoring then uses the run's).
	Normalise string `yaml:"normalise,omitempty"`
}

// TrainingDataset is one more dataset to fine-tune on.
type TrainingDataset struct {
	// Path is the dataset folder; a relative one is taken from the
	// folder holding the data path's dataset (a sibling by name).
	Path string `yaml:"path"`
	// Weight is how many times each of its train images is seen per epoch
	// on average (default 1): 2 doubles its share, 0.5 shows half of its
	// images each epoch, a different half each time.
	Weight float64 `yaml:"weight"`
}

// Normalise values of finetune.normalise.
const (
	NormaliseShared = "shared"
	NormaliseOwn    = "own"
)

// Labels values accepted by finetune.labels.
var LabelCounts = []string{"300", "600", "1200", "all"}

// Default returns the settings a config gets for keys it leaves out.
func Default(m Method) Config {
	augMethod := augment.MethodNone
	switch m {
	case DINO:
		augMethod = augment.MethodDINO
	case IBOT:
		augMethod = augment.MethodIBOT
	case SimSiam:
		augMethod = augment.MethodSimSiam
	}
	c := Config{
		Experiment: Experiment{Seed: 0, Device: "cpu", Name: string(m), LogFreq: 10, Method: m},
		Input:      Input{Channels: 3, ImageSize: [2]int{32, 32}, NumClasses: 2},
		Network: Network{
			Backbone: "vit_tiny", DropPath: 0.1, AttnDrop: 0.2,
			HeadBottleneckDim: 192, HeadHiddenDim: 256, HeadNLayers: 3, HeadNormLastLayer: true,
			HeadOutputDim: 512, HeadUseBN: true, PatchOutDim: 512, SharedHead: true, SharedHeadTeacher: true,
			MaskConfig:         augment.DefaultMaskConfig(augMethod),
			ProjectorHiddenDim: 512, ProjectorNLayers: 3, ProjectorUseBN: true,
		},
		Optimizer: Optimizer{
			Name: "AdamW", InitLR: 5e-5, FinalLR: 5e-8, InitWD: 1e-3, FinalWD: 1e-3, WarmupEpochs: 10,
			MomentumTeacher: 0.996, TeacherTemp: 0.04, WarmupTeacherTemp: 0.04,
			TeacherPatchTemp: 0.07, WarmupTeacherPatchTemp: 0.04, Lambda1: 1, Lambda2: 1,
		},
		Augmentation: augment.DefaultConfig(augMethod),
		Train:        Train{KNNNeighbours: 20, BatchSize: 128, Epochs: 100},
		Finetune:     FinetuneArgs{Labels: "all", Bootstrap: 1000, EvalEvery: 1},
	}
	switch m {
	case Supervised, Finetune:
		// The reference project's fine-tuning protocol, on its backbone
		// (attention dropout 0.2, drop path 0.1 in every model it built).
		c.Optimizer = Optimizer{Name: "Adam", InitLR: 1e-4, FinalLR: 1e-8}
		c.Train.BatchSize = 64
	case SimSiam:
		c.Optimizer.Name, c.Optimizer.InitLR, c.Optimizer.FinalLR = "SGD", 0.005, 5e-6
		c.Network.HeadOutputDim = 2048
	}
	return c
}

// Load reads and validates the config at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a config. The method (experiment.ssl_training)
// decides the defaults; every other key overrides them.
func Parse(b []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("want a mapping of sections at the top level")
	}
	root := doc.Content[0]
	m, err := methodOf(root)
	if err != nil {
		return nil, err
	}
	c := Default(m)
	d := &decoder{}
	if err := d.section(root, "", reflect.ValueOf(&c).Elem()); err != nil {
		return nil, err
	}
	c.Warnings = d.warnings
	c.Experiment.Method = m
	if err := c.normalise(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
