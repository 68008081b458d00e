package config

import (
	"fmt"
	"strings"
	"testing"
)

// A reproduce config with every section, reading its base configs from
// readBase.
const goodReproduce = `name: test matrix
data path: "/data"
output_dir: "/out"
backbones: [ViT-N/8]
methods: [supervised, dino, simsiam]
labels: [300, all]
seeds: [0, 1]
subset_seed: 4
bootstrap: 200
pretrain:
  epochs: 3
  overrides:
    optimizer: {scheduler_warmup_epochs: 1}
    train args: {batch_size: 64}
  dino:
    config: dino.yaml
    overrides: {train args: {batch_size: 32}}
  simsiam: {config: simsiam.yaml}
finetune:
  epochs: 2
  overrides:
    optimizer: {init_lr: 0.05, final_lr: 0.001}
    train args: {batch_size: 32}
`

func readBase(name string) ([]byte, error) {
	switch name {
	case "dino.yaml":
		return []byte("experiment: {ssl_training: dino}\n"), nil
	case "simsiam.yaml":
		return []byte("experiment: {ssl_training: simsiam}\n"), nil
	}
	return nil, fmt.Errorf("open %s: no such file", name)
}

func TestParseReproduce(t *testing.T) {
	rc, err := ParseReproduce([]byte(goodReproduce), readBase)
	if err != nil {
		t.Fatal(err)
	}
	dino := rc.Pretrain.Methods[DINO]
	base, ok := dino.Base("vit_nano")
	if rc.Backbones[0] != "vit_nano" || len(rc.Methods) != 3 || rc.Methods[2] != SimSiam || rc.Seeds[1] != 1 || rc.SubsetSeed != 4 ||
		rc.Pretrain.Epochs != 3 || !ok || base.Path != "dino.yaml" || dino.Overrides == nil || rc.Finetune.Epochs != 2 {
		t.Errorf("parsed %+v", rc)
	}
	// The fine-tuning base config defaults to the reference protocol.
	if c, err := Parse(rc.Finetune.Base.YAML); err != nil || c.Optimizer.Name != "Adam" {
		t.Errorf("default fine-tuning config: %v", err)
	}
}

// Bad reproduce configs are refused with the key path (and line) at fault.
func TestReproduceConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unknown key", "bootstrap: 200", "bootstrap: 200\nseed: 3", "seed: line 10: unknown key (want one of backbones, bootstrap, data path"},
		{"unknown section key", "  epochs: 3", "  epoch: 3", "pretrain.epoch: line 11: unknown key (want one of dino, epochs, ibot, overrides, simsiam)"},
		{"unknown method key", "config: dino.yaml", "cfg: dino.yaml", "pretrain.dino.cfg: line 16: unknown key (want one of config, epochs, overrides)"},
		{"unknown method", "methods: [supervised, dino, simsiam]", "methods: [supervised, byol]", `methods[1]: "byol" is not one of supervised, dino, ibot, simsiam`},
		{"method twice", "methods: [supervised, dino, simsiam]", "methods: [dino, supervised, dino]", `methods[2]: "dino" is listed twice`},
		{"unknown label count", "labels: [300, all]", "labels: [300, 250]", `labels[1]: "250" is not one of 300, 600, 1200, all`},
		{"unknown backbone", "backbones: [ViT-N/8]", "backbones: [vit_nano, vit_huge]", `backbones[1]: vit: unknown preset "vit_huge"`},
		{"backbone twice", "backbones: [ViT-N/8]", "backbones: [ViT-N/8, vit_nano]", `backbones[1]: "vit_nano" is listed twice`},
		{"no backbones", "backbones: [ViT-N/8]", "backbones: []", "backbones: empty"},
		{"seeds not a list", "seeds: [0, 1]", "seeds: 3", `seeds: line 7: "3" is not a list of non-negative integers`},
		{"negative seed", "seeds: [0, 1]", "seeds: [0, -1]", `seeds[1]: line 7: "-1" is not a non-negative integer`},
		{"seed twice", "seeds: [0, 1]", "seeds: [1, 1]", "seeds[1]: 1 is listed twice"},
		{"bootstrap zero", "bootstrap: 200", "bootstrap: 0", "bootstrap: 0: want a positive number of resamples"},
		{"epochs not a number", "  epochs: 3", "  epochs: many", `pretrain.epochs: line 11: "many" is not an integer`},
		{"negative epochs", "  epochs: 2\n", "  epochs: -2\n", "finetune.epochs: -2 is negative"},
		{"negative method epochs", "simsiam: {config: simsiam.yaml}", "simsiam: {config: simsiam.yaml, epochs: -1}", "pretrain.simsiam.epochs: -1 is negative"},
		{"section not a mapping", "finetune:\n  epochs: 2\n", "finetune: [2]\nx:\n  epochs: 2\n", "finetune: line 19: want a mapping of keys, got a list of 1"},
		{"overrides not a mapping", "  overrides:\n    optimizer: {init_lr", "  overrides: [1]\n  x:\n    optimizer: {init_lr", "finetune.overrides: line 21: a list of 1 is not a mapping of config sections"},
		{"missing base file", "config: dino.yaml", "config: nope.yaml", "pretrain.dino.config: open nope.yaml: no such file"},
		{"method without its config", "simsiam: {config: simsiam.yaml}", "ibot: {config: simsiam.yaml}", "pretrain.simsiam.config: missing; methods lists simsiam"},
		{"method section without config", "simsiam: {config: simsiam.yaml}", "simsiam: {epochs: 2}", "pretrain.simsiam.config: missing; want the path of a simsiam config"},
		{"per-backbone configs", "config: dino.yaml", "config: {vit_small: dino.yaml}", "pretrain.dino.config: no config for backbone vit_nano"},
		{"per-backbone config of an unknown backbone", "config: dino.yaml", "config: {vit_nano: dino.yaml, vit_q: dino.yaml}", `pretrain.dino.config.vit_q: line 16: vit: unknown preset "vit_q"`},
		{"per-backbone config missing", "config: dino.yaml", "config: {vit_nano: none.yaml}", "pretrain.dino.config.vit_nano: open none.yaml: no such file"},
		{"not a mapping", "", "just words", "want a mapping of keys at the top level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(goodReproduce, tc.old, tc.new, 1)
			if tc.old == "" {
				text = tc.new
			} else if text == goodReproduce {
				t.Fatalf("%q is not in the config", tc.old)
			}
			_, err := ParseReproduce([]byte(text), readBase)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}
