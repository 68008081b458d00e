package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/augment"
)

func TestReferenceConfigsLoadUnchanged(t *testing.T) {
	tests := []struct {
		file     string
		method   Method
		backbone string
		locals   int
		batch    int
	}{
		{"dino-vit-small.yaml", DINO, "vit_small", 16, 128},
		{"dino-vit-base.yaml", DINO, "vit_base", 16, 128},
		{"ibot-vit-small.yaml", IBOT, "vit_small", 12, 128},
		{"ibot-vit-base.yaml", IBOT, "vit_base", 8, 128},
		{"simsiam-vit-small.yaml", SimSiam, "vit_small", 0, 512},
		{"simsiam-vit-base.yaml", SimSiam, "vit_base", 0, 128},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Load(filepath.Join("..", "..", "configs", "reference", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if c.Experiment.Method != tt.method || c.Network.Backbone != tt.backbone || c.Train.BatchSize != tt.batch {
				t.Errorf("method %q backbone %q batch %d", c.Experiment.Method, c.Network.Backbone, c.Train.BatchSize)
			}
			if tt.method != SimSiam && c.Augmentation.NumLocalCrops != tt.locals {
				t.Errorf("num_local_crops %d, want %d", c.Augmentation.NumLocalCrops, tt.locals)
			}
			if c.Network.MaskConfig.Enabled != (tt.method == IBOT) {
				t.Errorf("masking enabled = %v for %s", c.Network.MaskConfig.Enabled, tt.method)
			}
			// device: cuda is the only warning: every key is known.
			if len(c.Warnings) == 0 || !strings.Contains(c.Warnings[0], "experiment.device") {
				t.Errorf("warnings %q, want the device warning", c.Warnings)
			}
			for _, w := range c.Warnings {
				if strings.Contains(w, "unknown key") {
					t.Errorf("unexpected warning %q", w)
				}
			}
		})
	}
	// SimSiam's crop_scale is honoured, not silently replaced.
	c, err := Load(filepath.Join("..", "..", "configs", "reference", "simsiam-vit-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Augmentation.CropScale != [2]float64{0.14, 1} || c.Optimizer.Name != "SGD" || c.Network.PredictorHiddenDim != 512 {
		t.Errorf("simsiam: crop_scale %v optimizer %q predictor hidden %d", c.Augmentation.CropScale, c.Optimizer.Name, c.Network.PredictorHiddenDim)
	}
}

func TestShippedConfigsLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "reproduce-") {
			continue // matrix configs of `sslens reproduce`, another schema
		}
		c, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(c.Warnings) > 0 {
			t.Errorf("%s: warnings %q", f, c.Warnings)
		}
	}
}

const base = `experiment:
  ssl_training: supervised
network:
  backbone: vit_nano
train args:
  num_epochs: 3
`

func TestUnknownKeysWarnWithPath(t *testing.T) {
	c, err := Parse([]byte(base + "  bach_size: 12\noptimiser:\n  lr: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"train args.bach_size: line 7: unknown key, ignored", "optimiser: line 8: unknown key, ignored"}
	if strings.Join(c.Warnings, "|") != strings.Join(want, "|") {
		t.Errorf("warnings %q, want %q", c.Warnings, want)
	}
}

func TestDefaultsAreTheReferenceFinetuneProtocol(t *testing.T) {
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Optimizer
	if o.Name != "Adam" || o.InitLR != 1e-4 || o.FinalLR != 1e-8 || c.Train.BatchSize != 64 || c.Finetune.Labels != "all" || c.Finetune.Augment {
		t.Errorf("defaults %+v batch %d finetune %+v", o, c.Train.BatchSize, c.Finetune)
	}
}

func TestInvalidValuesNameTheKey(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"negative lr", base + "optimizer:\n  init_lr: -0.1\n", "optimizer.init_lr: -0.1: want a positive number"},
		{"unknown backbone", strings.Replace(base, "vit_nano", "resnet50", 1), "network.backbone: "},
		{"unknown method", strings.Replace(base, "supervised", "byol", 1), `experiment.ssl_training: line 2: unknown method "byol" (want one of supervised, finetune, dino, ibot, simsiam)`},
		{"device", strings.Replace(base, "supervised", "supervised\n  device: gpu0", 1), `experiment.device: device "gpu0": want cpu, cuda or cuda:N`},
		{"missing method", "network:\n  backbone: vit_nano\n", "experiment.ssl_training: missing"},
		{"crop larger than image", "experiment:\n  ssl_training: dino\nnetwork:\n  backbone: vit_nano\nssl augmentation kwargs:\n  global_crop_size: 48\n  center_crop: 64\n", "ssl augmentation kwargs.global_crop_size: 48 is larger than input.image size 32"},
		{"labels", base + "finetune:\n  labels: 500\n", `finetune.labels: "500" is not one of 300, 600, 1200, all`},
		{"bad optimizer", base + "optimizer:\n  optimizer: LAMB\n", `optimizer.optimizer: "LAMB" is not Adam, AdamW or SGD`},
		{"wrong type", base + "  batch_size: lots\n", `train args.batch_size: line 7: "lots" is not an integer`},
		{"zero epochs", strings.Replace(base, "num_epochs: 3", "num_epochs: 0", 1), "train args.num_epochs: 0 is not positive"},
		{"image size", base + "input:\n  image size: [30, 30]\n", "input.image size: 30 is not a multiple of the patch size 8"},
		{"not yaml", "experiment: [", "yaml"},
		{"huge batch", base + "  batch_size: 1000000\n", "train args.batch_size: 1000000 is more than 4096"},
		{"huge image", base + "input:\n  image size: [4096, 4096]\n", "input.image size: 4096 px makes 262144 patches of 8 px"},
		{"huge bootstrap", base + "finetune:\n  bootstrap: 1000000000\n", "finetune.bootstrap: 1000000000 is more than 100000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("experiment:\n  ssl_training: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name %s", err, path)
	}
}

func TestResolveAppliesOverridesAndRequiresInputs(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(base, "supervised", "finetune", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(Overrides{}); err == nil || !strings.Contains(err.Error(), "input.data path: empty") {
		t.Fatalf("no data: %v", err)
	}
	if err := c.Resolve(Overrides{Data: "/d"}); err == nil || !strings.Contains(err.Error(), "finetune.checkpoint: required") {
		t.Fatalf("no checkpoint: %v", err)
	}
	if err := c.Resolve(Overrides{Data: "/d", Indices: "/d/s.json", Checkpoint: "m.safetensors", Output: "/o"}); err != nil {
		t.Fatal(err)
	}
	if c.Input.DataPath != "/d" || c.Input.Indices != "/d/s.json" || c.Finetune.Checkpoint != "m.safetensors" || c.Experiment.OutputDir != "/o" {
		t.Errorf("overrides not applied: %+v %+v", c.Input, c.Finetune)
	}
	// A path already in the config wins over nothing and loses to a flag.
	c.Input.DataPath = "/cfg"
	if err := c.Resolve(Overrides{}); err != nil || c.Input.DataPath != "/cfg" {
		t.Errorf("data path %q, %v", c.Input.DataPath, err)
	}
}

// The augmentation and masking settings of the reference configs, as the
// augment package's tests assume them.
func TestReferenceAugmentationSettings(t *testing.T) {
	ibot := augment.DefaultMaskConfig(augment.MethodIBOT)
	ibot.Aspect = [2]float64{0.3, 3.33}
	tests := []struct {
		file        string
		aug         augment.Method
		locals, lsz int
		cropScale   [2]float64
		mask        augment.MaskConfig
	}{
		{"dino-vit-small.yaml", augment.MethodDINO, 16, 20, [2]float64{}, augment.MaskConfig{}},
		{"dino-vit-base.yaml", augment.MethodDINO, 16, 28, [2]float64{}, augment.MaskConfig{}},
		{"ibot-vit-small.yaml", augment.MethodIBOT, 12, 20, [2]float64{}, ibot},
		{"ibot-vit-base.yaml", augment.MethodIBOT, 8, 20, [2]float64{}, ibot},
		{"simsiam-vit-small.yaml", augment.MethodSimSiam, 0, 0, [2]float64{0.14, 1}, augment.MaskConfig{}},
	}
	for _, tt := range tests {
		c, err := Load(filepath.Join("..", "..", "configs", "reference", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		a := c.Augmentation
		if m, err := a.Method(); err != nil || m != tt.aug || a.NumLocalCrops != tt.locals || a.LocalCropSize != tt.lsz || a.CropScale != tt.cropScale || a.CenterCrop != 32 {
			t.Errorf("%s: augmentation %+v", tt.file, a)
		}
		mc := c.Network.MaskConfig
		if tt.mask.Enabled && mc != tt.mask || !tt.mask.Enabled && mc.Enabled {
			t.Errorf("%s: masks %+v, want %+v", tt.file, mc, tt.mask)
		}
		if _, err := augment.NewPipeline(a, mc, augment.SeedNormalization()); err != nil {
			t.Errorf("%s: NewPipeline: %v", tt.file, err)
		}
	}
}

func TestAugmentationDefaultsAndOverrides(t *testing.T) {
	const ibot = "experiment:\n  ssl_training: ibot\nnetwork:\n  backbone: vit_nano\n"
	tests := []struct {
		name  string
		yaml  string
		check func(*Config) bool
	}{
		{"plain dino gets the defaults (blur 1.0 / 0.3 / 0.5)", "experiment:\n  ssl_training: dino\n",
			func(c *Config) bool {
				return c.Augmentation == augment.DefaultConfig(augment.MethodDINO) && !c.Network.MaskConfig.Enabled
			}},
		{"ibot enables masks", ibot,
			func(c *Config) bool {
				m := c.Network.MaskConfig
				return m.Enabled && m.Ratio == 0.3 && m.PatchSize == 8
			}},
		{"None and empty keep defaults", ibot + "  pred_ratio: None\n  patch_size:\nssl augmentation kwargs:\n  augmentation: AugmentationDINOSingleChannel\n  local_crop_size: None\n",
			func(c *Config) bool {
				return c.Augmentation.LocalCropSize == 20 && c.Network.MaskConfig.Ratio == 0.3 && c.Network.MaskConfig.PatchSize == 8
			}},
		{"own keys", "experiment:\n  ssl_training: dino\nssl augmentation kwargs:\n  rot90: true\n  vertical_flip_probability: 0\n  gaussian_blur_sigma: [0.5, 1.5]\n",
			func(c *Config) bool {
				a := c.Augmentation
				return a.Rot90 && a.VFlipP == 0 && a.BlurSigma == [2]float64{0.5, 1.5}
			}},
		{"masking off", ibot + "  masked_im_modeling: false\n",
			func(c *Config) bool { return !c.Network.MaskConfig.Enabled }},
		{"simsiam crop_size", "experiment:\n  ssl_training: simsiam\nssl augmentation kwargs:\n  crop_size: 24\n",
			func(c *Config) bool {
				a := c.Augmentation
				return a.Augmentation == "simsiam" && a.CropSize == 24 && a.BlurP1 == 0.5 && a.BlurP2 == 0.5
			}},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(tt.yaml))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(c) {
			t.Errorf("%s: got %+v, %+v", tt.name, c.Augmentation, c.Network.MaskConfig)
		}
	}
}

func TestAugmentationErrorsNameTheKey(t *testing.T) {
	const dino = "experiment:\n  ssl_training: dino\nssl augmentation kwargs:\n  augmentation: AugmentationDINOSingleChannel\n"
	const ibot = "experiment:\n  ssl_training: ibot\nssl augmentation kwargs:\n  augmentation: AugmentationDINOSingleChannel\nnetwork:\n"
	tests := []struct{ name, yaml, want string }{
		{"local crop larger than centre crop", dino + "  local_crop_size: 40\n", "ssl augmentation kwargs.local_crop_size: 40 is larger than center_crop 32"},
		{"scale range upside down", dino + "  global_crop_scale_range: [0.9, 0.2]\n", "ssl augmentation kwargs.global_crop_scale_range: [0.9 0.2] is not a range within (0, 1]"},
		{"scale range of three", dino + "  local_crop_scale_range: [0.1, 0.2, 0.3]\n", "ssl augmentation kwargs.local_crop_scale_range: line 5: a list of 3 is not a list of 2 numbers"},
		{"text for a size", dino + "  global_crop_size: big\n", `ssl augmentation kwargs.global_crop_size: line 5: "big" is not an integer`},
		{"unknown augmentation", "experiment:\n  ssl_training: dino\nssl augmentation kwargs:\n  augmentation: AugmentationDINOexpt1\n", `unknown augmentation "AugmentationDINOexpt1"`},
		{"probability above one", dino + "  horizontal_flip_probability: 1.5\n", "ssl augmentation kwargs.horizontal_flip_probability: 1.5 is not a probability"},
		{"simsiam crop too big", "experiment:\n  ssl_training: simsiam\nssl augmentation kwargs:\n  crop_size: 33\n", "ssl augmentation kwargs.crop_size: 33 is larger than center_crop 32"},
		{"mask ratio too large", ibot + "  pred_ratio: 0.9\n  pred_ratio_var: 0.2\n", "network.pred_ratio: 0.9 +- pred_ratio_var 0.2 leaves [0, 1]"},
		{"mask shape", ibot + "  pred_shape: ring\n", `network.pred_shape: "ring" is not block or rand`},
		{"150,000 local crops", dino + "  num_local_crops: 150000\n", "ssl augmentation kwargs.num_local_crops: 150000 is not within [0, 64]"},
		{"huge head", "experiment:\n  ssl_training: dino\nnetwork:\n  head_output_dim: 10000000\n", "network.head_output_dim: 10000000 is more than 65536"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestBudget: a step's budget is the smaller of max_memory and a server's
// limit, either absent meaning none.
func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		own         string
		limit, want int64
	}{{"", 0, 0}, {"", 6 << 30, 6 << 30}, {"2GiB", 6 << 30, 2 << 30}, {"8GiB", 6 << 30, 6 << 30}, {"2GiB", 0, 2 << 30}} {
		got, err := Train{MaxMemory: tc.own}.Budget(tc.limit)
		if err != nil || got != tc.want {
			t.Errorf("max_memory %q under %d: %d, %v; want %d", tc.own, tc.limit, got, err, tc.want)
		}
	}
	if _, err := (Train{MaxMemory: "lots"}).Budget(6 << 30); err == nil {
		t.Error("a malformed max_memory passed")
	}
}
