package reproduce

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/config"
)

// Cell configs: base, then the section's overrides, then the method's,
// then the matrix's own keys.
func TestReproducePlan(t *testing.T) {
	rc := parseRepro(t, reproConfig("/data", "/out"))
	cells, warnings, err := Plan(rc, "", "/other-splits.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 16 || len(warnings) != 0 {
		t.Fatalf("%d cells, warnings %v", len(cells), warnings)
	}
	byName := map[string]*Cell{}
	for _, c := range cells {
		byName[c.Name()] = c
	}
	dino, simsiam := byName["pretrain dino vit_nano seed 1"], byName["pretrain simsiam vit_nano seed 1"]
	ft := byName["finetune dino vit_nano 300 labels seed 1"]
	ftSimSiam := byName["finetune simsiam vit_nano 300 labels seed 1"]
	sup := byName["finetune supervised vit_nano all labels seed 0"]
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"dino method", dino.Config.Experiment.Method, config.DINO},
		{"dino seed (matrix over base)", dino.Config.Experiment.Seed, uint64(1)},
		{"dino backbone (matrix over base)", dino.Config.Network.Backbone, "vit_nano"},
		{"dino epochs (matrix over base)", dino.Config.Train.Epochs, 1},
		{"dino batch (method over section)", dino.Config.Train.BatchSize, 32},
		{"dino warm-up (section over base)", dino.Config.Optimizer.WarmupEpochs, 1},
		{"simsiam batch (section)", simsiam.Config.Train.BatchSize, 64},
		{"simsiam optimizer (its default)", simsiam.Config.Optimizer.Name, "SGD"},
		{"dino folder", dino.Dir, "/out/pretrain/dino_vit_nano_seed1"},
		{"data", dino.Config.Input.DataPath, "/data"},
		{"indices (option over config)", dino.Config.Input.Indices, "/other-splits.json"},
		{"fine-tune method", ft.Config.Experiment.Method, config.Finetune},
		{"fine-tune checkpoint (the student)", ft.Config.Finetune.Checkpoint, "/out/pretrain/dino_vit_nano_seed1/checkpoints/last/student.safetensors"},
		{"simsiam fine-tune checkpoint", ftSimSiam.Config.Finetune.Checkpoint, "/out/pretrain/simsiam_vit_nano_seed1/checkpoints/last/model.safetensors"},
		{"fine-tune labels", ft.Config.Finetune.Labels, "300"},
		{"fine-tune subset seed (subset_seed + seed)", ft.Config.Finetune.SubsetSeed, uint64(5)},
		{"seed 0's subset seed", sup.Config.Finetune.SubsetSeed, uint64(4)},
		{"fine-tune bootstrap", ft.Config.Finetune.Bootstrap, 200},
		{"fine-tune lr (overrides)", ft.Config.Optimizer.InitLR, 0.05},
		{"fine-tune optimizer (reference protocol)", ft.Config.Optimizer.Name, "Adam"},
		{"fine-tune epochs", ft.Config.Train.Epochs, 2},
		{"fine-tune pretraining", ft.Pretrain, dino},
		{"fine-tune folder", ft.Dir, "/out/finetune/dino_vit_nano_300_seed1"},
		{"supervised method", sup.Config.Experiment.Method, config.Supervised},
		{"supervised checkpoint", sup.Config.Finetune.Checkpoint, ""},
		{"supervised pretraining", sup.Pretrain, (*Cell)(nil)},
		{"supervised name", sup.Config.Experiment.Name, "supervised_vit_nano_all_seed0"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	// Unknown keys in overrides are warnings naming the cell, without the
	// merged document's line numbers.
	rc = parseRepro(t, strings.Replace(reproConfig("/data", "/out"), "{batch_size: 64}", "{batch_size: 64, batch_sise: 3}", 1))
	_, warnings, err = Plan(rc, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	if !strings.Contains(joined, "pretrain dino vit_nano seed 0: train args.batch_sise: unknown key, ignored") || strings.Contains(joined, "line ") {
		t.Errorf("warnings:\n%s", joined)
	}
}

// Cell configs that cannot run are refused by Plan, before anything
// trains, naming the section, the base config, the cell and the key.
func TestReproducePlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, data, want string
	}{
		{"warm-up longer than the run", "scheduler_warmup_epochs: 1}", "scheduler_warmup_epochs: 5}", "/data",
			"reproduce: pretrain.dino: dino.yaml with overrides for pretrain dino vit_nano seed 0: optimizer.scheduler_warmup_epochs: 5 is not within [0, num_epochs 1]"},
		{"bad fine-tune value", "init_lr: 0.05", "init_lr: -1", "/data",
			"reproduce: finetune: the reference fine-tuning protocol with overrides for finetune supervised vit_nano 300 labels seed 0: optimizer.init_lr: -1: want a positive number"},
		{"a config of another method", "simsiam: {config: simsiam.yaml}", "simsiam: {config: dino.yaml}", "/data",
			"reproduce: pretrain.simsiam.config: dino.yaml trains dino, not simsiam"},
		{"no data", "name: test matrix", "name: test matrix", "",
			"reproduce: data path: empty; set it in the reproduce config or pass --data DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(reproConfig(tc.data, "/out"), tc.old, tc.new, 1)
			rc := parseRepro(t, text)
			if _, _, err := Plan(rc, "", "", ""); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}

// The shipped presets parse, plan and train what configs/README.md says.
func TestShippedReproduceConfigs(t *testing.T) {
	for _, tc := range []struct {
		file      string
		cells     int
		backbones []string
	}{
		{"reproduce-cpu.yaml", 57, []string{"vit_nano"}},
		{"reproduce-full.yaml", 38, []string{"vit_small", "vit_base"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rc, err := config.LoadReproduce(filepath.Join("../../configs", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			cells, warnings, err := Plan(rc, "/data", "", "/out")
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != tc.cells || !slices.Equal(rc.Backbones, tc.backbones) || len(warnings) != 0 {
				t.Errorf("%d cells, backbones %v, warnings %v", len(cells), rc.Backbones, warnings)
			}
			for _, c := range cells {
				cfg := c.Config
				if c.Kind == CellFinetune {
					// The reference protocol: Adam 1e-4 to 1e-8, batch 64, no
					// augmentation, all weights trained.
					// The reference backbone's attention dropout 0.2 and drop
					// path 0.1.
					o, n := cfg.Optimizer, cfg.Network
					if o.Name != "Adam" || o.InitLR != 1e-4 || o.FinalLR != 1e-8 || cfg.Train.BatchSize != 64 || cfg.Finetune.Augment || cfg.Finetune.LinearProbe ||
						n.AttnDrop != 0.2 || n.DropPath != 0.1 {
						t.Errorf("%s: optimizer %+v, batch %d, augment %v, linear probe %v, dropout %v/%v", c.Name(), o, cfg.Train.BatchSize,
							cfg.Finetune.Augment, cfg.Finetune.LinearProbe, n.AttnDrop, n.DropPath)
					}
					continue
				}
				// Pretraining: the reference's peak learning rate, unscaled,
				// and its warm-up (or a proportional one).
				backbone := c.Backbone
				if tc.file == "reproduce-cpu.yaml" {
					backbone = "vit_small" // ViT-N/8 with the ViT-S/8 configs
				}
				base, err := config.Load(filepath.Join("../../configs/reference", string(c.Method)+"-"+strings.ReplaceAll(backbone, "_", "-")+".yaml"))
				if err != nil {
					t.Fatal(err)
				}
				o := cfg.Optimizer
				if o.InitLR != base.Optimizer.InitLR || o.ScaleLRByBatch {
					t.Errorf("%s: init_lr %g (scaled %v), reference %g", c.Name(), o.InitLR, o.ScaleLRByBatch, base.Optimizer.InitLR)
				}
				if want := base.Optimizer.WarmupEpochs * cfg.Train.Epochs / base.Train.Epochs; o.WarmupEpochs != want {
					t.Errorf("%s: warm-up %d epochs of %d, want %d (the reference's %d of %d)", c.Name(), o.WarmupEpochs, cfg.Train.Epochs, want,
						base.Optimizer.WarmupEpochs, base.Train.Epochs)
				}
			}
		})
	}
}
