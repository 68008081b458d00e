package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"missing method", "network:\n  backbone: vit_nano\n", "experiment.ssl_training: missing"},
		{"crop larger than image", "experiment:\n  ssl_training: dino\nnetwork:\n  backbone: vit_nano\nssl augmentation kwargs:\n  global_crop_size: 48\n  center_crop: 64\n", "ssl augmentation kwargs.global_crop_size: 48 is larger than input.image size 32"},
		{"labels", base + "finetune:\n  labels: 500\n", `finetune.labels: "500" is not one of 300, 600, 1200, all`},
		{"bad optimizer", base + "optimizer:\n  optimizer: LAMB\n", `optimizer.optimizer: "LAMB" is not Adam, AdamW or SGD`},
		{"wrong type", base + "  batch_size: lots\n", `train args.batch_size: line 7: "lots" is not an integer`},
		{"zero epochs", strings.Replace(base, "num_epochs: 3", "num_epochs: 0", 1), "train args.num_epochs: 0 is not positive"},
		{"image size", base + "input:\n  image size: [30, 30]\n", "input.image size: 30 is not a multiple of the patch size 8"},
		{"not yaml", "experiment: [", "yaml"},
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
