package augment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigSeedConfigs(t *testing.T) {
	tests := []struct {
		file      string
		method    Method
		masks     bool
		localSize int
		locals    int
		cropScale [2]float64
	}{
		{"dino-vit-base.yaml", MethodDINO, false, 28, 16, [2]float64{}},
		{"dino-vit-small.yaml", MethodDINO, false, 20, 16, [2]float64{}},
		{"ibot-vit-base.yaml", MethodDINO, true, 20, 8, [2]float64{}},
		{"ibot-vit-small.yaml", MethodDINO, true, 20, 12, [2]float64{}},
		{"simsiam-vit-base.yaml", MethodSimSiam, false, 0, 0, [2]float64{0.14, 1}},
		{"simsiam-vit-small.yaml", MethodSimSiam, false, 0, 0, [2]float64{0.14, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, mc, err := LoadConfig(filepath.Join("..", "..", "configs", "reference", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if m, err := cfg.Method(); err != nil || m != tt.method {
				t.Errorf("method = %q, %v; want %q", m, err, tt.method)
			}
			if cfg.CenterCrop != 32 {
				t.Errorf("center_crop = %d, want 32", cfg.CenterCrop)
			}
			if cfg.LocalCropSize != tt.localSize || cfg.NumLocalCrops != tt.locals {
				t.Errorf("local crops = %d of %d px, want %d of %d px", cfg.NumLocalCrops, cfg.LocalCropSize, tt.locals, tt.localSize)
			}
			if cfg.CropScale != tt.cropScale {
				t.Errorf("crop_scale = %v, want %v", cfg.CropScale, tt.cropScale)
			}
			if mc.Enabled != tt.masks {
				t.Errorf("masks enabled = %v, want %v", mc.Enabled, tt.masks)
			}
			if tt.masks {
				want := MaskConfig{Enabled: true, PatchSize: 8, Ratio: 0.3, Aspect: [2]float64{0.3, 3.33}, Shape: "block"}
				if mc != want {
					t.Errorf("mask config = %+v, want %+v", mc, want)
				}
			}
			if _, err := NewPipeline(cfg, mc, SeedNormalization()); err != nil {
				t.Errorf("NewPipeline: %v", err)
			}
		})
	}
}

func TestLoadConfigDefaultsAndOverrides(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(Config, MaskConfig) string
	}{
		{"plain dino gets defaults", "ssl augmentation kwargs:\n  augmentation: dino\n",
			func(c Config, m MaskConfig) string {
				if c != DefaultConfig(MethodDINO) || m.Enabled {
					return "not the DINO defaults"
				}
				if c.BlurP1 != 1 || c.BlurP2 != 0.3 || c.BlurPLocal != 0.5 {
					return "blur probabilities are not 1.0 / 0.3 / 0.5"
				}
				return ""
			}},
		{"plain ibot enables masks", "ssl augmentation kwargs:\n  augmentation: ibot\n",
			func(c Config, m MaskConfig) string {
				if !m.Enabled || m.Ratio != 0.3 || m.PatchSize != 8 {
					return "iBOT masks not enabled with defaults"
				}
				return ""
			}},
		{"ssl_training stands in for augmentation", "experiment:\n  ssl_training: simsiam\nssl augmentation kwargs:\n  crop_size: 24\n",
			func(c Config, m MaskConfig) string {
				if c.Augmentation != "simsiam" || c.CropSize != 24 || c.BlurP1 != 0.5 || c.BlurP2 != 0.5 {
					return "not SimSiam with crop_size 24 and blur 0.5 / 0.5"
				}
				return ""
			}},
		{"None and empty keep defaults", "network:\n  pred_ratio: None\n  patch_size:\nexperiment:\n  ssl_training: ibot\nssl augmentation kwargs:\n  augmentation: AugmentationDINOSingleChannel\n  local_crop_size: None\n",
			func(c Config, m MaskConfig) string {
				if c.LocalCropSize != 20 || m.Ratio != 0.3 || m.PatchSize != 8 || !m.Enabled {
					return "None values did not keep the defaults"
				}
				return ""
			}},
		{"own keys", "ssl augmentation kwargs:\n  augmentation: dino\n  rot90: true\n  vertical_flip_probability: 0\n  gaussian_blur_sigma: [0.5, 1.5]\n  color_jitter_probability: 0.1\n",
			func(c Config, m MaskConfig) string {
				if !c.Rot90 || c.VFlipP != 0 || c.BlurSigma != [2]float64{0.5, 1.5} || c.JitterP != 0.1 {
					return "own keys not read"
				}
				return ""
			}},
		{"masking off", "experiment:\n  ssl_training: ibot\nnetwork:\n  masked_im_modeling: false\nssl augmentation kwargs:\n  augmentation: AugmentationDINOSingleChannel\n",
			func(c Config, m MaskConfig) string {
				if m.Enabled {
					return "masks enabled despite masked_im_modeling: false"
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, mc, err := LoadConfig(writeTemp(t, tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(cfg, mc); msg != "" {
				t.Errorf("%s: got %+v, %+v", msg, cfg, mc)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	const dino = "ssl augmentation kwargs:\n  augmentation: AugmentationDINOSingleChannel\n"
	const ibot = "experiment:\n  ssl_training: ibot\n" + dino
	tests := []struct {
		name, yaml, want string
	}{
		{"local crop larger than centre crop", dino + "  center_crop: 32\n  local_crop_size: 40\n",
			"ssl augmentation kwargs.local_crop_size: 40 is larger than center_crop 32"},
		{"scale range upside down", dino + "  global_crop_scale_range: [0.9, 0.2]\n",
			"ssl augmentation kwargs.global_crop_scale_range: [0.9 0.2] is not a range within (0, 1]"},
		{"scale range of three", dino + "  local_crop_scale_range: [0.1, 0.2, 0.3]\n",
			"ssl augmentation kwargs.local_crop_scale_range: line 3: a list of 3 is not a list of 2 numbers"},
		{"text for a size", dino + "  global_crop_size: big\n",
			`ssl augmentation kwargs.global_crop_size: line 3: "big" is not an integer`},
		{"unknown key", dino + "  crop_scale_rang: [0.1, 1]\n",
			"ssl augmentation kwargs.crop_scale_rang: line 3: unknown key"},
		{"unknown augmentation", "ssl augmentation kwargs:\n  augmentation: AugmentationDINOexpt1\n",
			`ssl augmentation kwargs.augmentation: unknown augmentation "AugmentationDINOexpt1"`},
		{"missing section", "network:\n  patch_size: 8\n", "ssl augmentation kwargs: missing"},
		{"probability above one", dino + "  horizontal_flip_probability: 1.5\n",
			"ssl augmentation kwargs.horizontal_flip_probability: 1.5 is not a probability"},
		{"simsiam crop too big", "ssl augmentation kwargs:\n  augmentation: AugmentationSIMSIAM\n  crop_size: 33\n",
			"ssl augmentation kwargs.crop_size: 33 is larger than center_crop 32"},
		{"mask ratio too large", "network:\n  pred_ratio: 0.9\n  pred_ratio_var: 0.2\n" + ibot,
			"network.pred_ratio: 0.9 +- pred_ratio_var 0.2 leaves [0, 1]"},
		{"mask shape", "network:\n  pred_shape: ring\n" + ibot, `network.pred_shape: "ring" is not block or rand`},
		{"patch larger than crop", "network:\n  patch_size: 64\n" + ibot,
			"network.patch_size: 64 is not within [1, global_crop_size 32]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.yaml)
			_, _, err := LoadConfig(path)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file and say %q", err, tt.want)
			}
		})
	}
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
