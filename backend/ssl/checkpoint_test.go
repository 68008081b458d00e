package ssl

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

// backbone returns ViT-N/8 parameters with numClasses outputs drawn from seed.
func backbone(t *testing.T, numClasses int, seed uint64) *vit.Params {
	t.Helper()
	p, err := vit.LookupPreset("vit_nano")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := vit.New(p, numClasses, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestLoadWeights(t *testing.T) {
	tensors := func(ps *vit.Params, extra ...ckpt.Tensor) []ckpt.Tensor {
		return append(ckpt.ParamTensors(ps), extra...)
	}
	without := func(ts []ckpt.Tensor, name string) []ckpt.Tensor {
		var out []ckpt.Tensor
		for _, x := range ts {
			if x.Name != name {
				out = append(out, x)
			}
		}
		return out
	}
	reshaped := func(ts []ckpt.Tensor, name string, shape []int, n int) []ckpt.Tensor {
		out := append([]ckpt.Tensor(nil), ts...)
		for i, x := range out {
			if x.Name == name {
				out[i] = ckpt.Tensor{Name: name, Shape: shape, Data: make([]float32, n)}
			}
		}
		return out
	}
	pretrained, classifier := backbone(t, 0, 1), backbone(t, 2, 2)
	extra := ckpt.Tensor{Name: "dino_head.last_layer.weight", Shape: []int{4}, Data: make([]float32, 4)}
	for _, tc := range []struct {
		name    string
		ts      []ckpt.Tensor
		src     *vit.Params // where the backbone comes from
		head    bool
		ignored int
		err     string
	}{
		{"pretrained backbone", tensors(pretrained, extra), pretrained, false, 1, ""},
		{"classifier", tensors(classifier), classifier, true, 0, ""},
		{"ten-class head", reshaped(tensors(classifier), "head.weight", []int{10, 128}, 1280), classifier, false, 0, ""},
		{"missing block", without(tensors(pretrained), "blocks.3.mlp.fc1.weight"), nil, false, 0, `no tensor "blocks.3.mlp.fc1.weight" (512, 128)`},
		{"other grid", reshaped(tensors(pretrained), "pos_embed", []int{1, 5, 128}, 640), nil, false, 0,
			`tensor "pos_embed" has shape (1, 5, 128), the vit_nano backbone wants (1, 17, 128)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := backbone(t, 2, 3)
			headBefore := append([]float32(nil), ps.Get("head.weight").Data...)
			head, ignored, err := loadWeights(ps, tc.ts)
			if wantError(t, err, tc.err) {
				return
			}
			if head != tc.head || len(ignored) != tc.ignored {
				t.Errorf("head %v, ignored %v", head, ignored)
			}
			if !equalBits(ps.Get("blocks.5.attn.qkv.weight").Data, tc.src.Get("blocks.5.attn.qkv.weight").Data) {
				t.Error("backbone not loaded")
			}
			wantHead := headBefore
			if tc.head {
				wantHead = classifier.Get("head.weight").Data
			}
			if !equalBits(ps.Get("head.weight").Data, wantHead) {
				t.Error("head is not what it should be")
			}
		})
	}
}

// Fine-tuning starts from the pretrained backbone and its normalisation,
// which the new checkpoints carry on.
func TestFinetuneStartsFromThePretrainedBackbone(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, smallSpec)
	pre := backbone(t, 0, 11)
	norm := ckpt.Normalization{Mean: [3]float64{0.25, 0.75, 1.25}, Std: [3]float64{0.5, 0.5, 0.25}}
	prePath := filepath.Join(t.TempDir(), "pretrain", layout.ModelFile)
	extra := ckpt.Tensor{Name: "dino_head.mlp.0.weight", Shape: []int{2, 2}, Data: make([]float32, 4)}
	if err := ckpt.Save(prePath, append(ckpt.ParamTensors(pre), extra),
		ckpt.Sidecar{Preset: "vit_nano", Epoch: 100, Normalization: norm}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, dataDir, out, func(c *config.Config) {
		c.Experiment.Method, c.Finetune.Checkpoint, c.Finetune.LinearProbe = config.Finetune, filepath.Dir(prePath), true
		c.Train.Epochs = 1
	})
	var logs []string
	run, err := NewClassifierRun(cfg, Options{Progress: func(r shared.Metric) { logs = append(logs, r.Message) }})
	if err != nil {
		t.Fatal(err)
	}
	if !equalBits(run.Params.Get("blocks.2.mlp.fc2.weight").Data, pre.Get("blocks.2.mlp.fc2.weight").Data) {
		t.Error("backbone does not come from the checkpoint")
	}
	if toCkpt(run.Norm) != norm {
		t.Errorf("normalisation %+v, want the checkpoint's %+v", run.Norm, norm)
	}
	joined := strings.Join(logs, "\n")
	for _, want := range []string{"(epoch 100) with a new head", "1 tensors of", "dino_head.mlp.0.weight", "normalisation from the pretrained checkpoint"} {
		if !strings.Contains(joined, want) {
			t.Errorf("setup log lacks %q:\n%s", want, joined)
		}
	}
	run.Close()
	os.RemoveAll(out)
	if _, _, err := train(t, cfg, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Sidecar.Normalization != norm || !ck.Config.Finetune.LinearProbe {
		t.Errorf("fine-tuned checkpoint: normalisation %+v, linear probe %v", ck.Sidecar.Normalization, ck.Config.Finetune.LinearProbe)
	}

	// A backbone of another size is refused by name.
	cfg.Network.Backbone, cfg.Experiment.OutputDir = "vit_tiny", filepath.Join(t.TempDir(), "run")
	if _, err := NewClassifierRun(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "holds a vit_nano backbone, network.backbone is vit_tiny") {
		t.Errorf("err = %v", err)
	}
}

func TestLoadCheckpointOfABackbone(t *testing.T) {
	dir := t.TempDir()
	ps := backbone(t, 0, 4)
	norm := ckpt.Normalization{Mean: [3]float64{1, 2, 3}, Std: [3]float64{1, 1, 1}}
	if err := ckpt.Save(filepath.Join(dir, layout.ModelFile), ckpt.ParamTensors(ps), ckpt.Sidecar{Preset: "ViT-N/8", Normalization: norm}); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.HasHead || ck.Params.NumClasses != 2 || ck.Params.Preset.ImageSize != 32 || ck.Config != nil || toCkpt(ck.Norm) != norm {
		t.Errorf("head %v, classes %d, size %d, config %v, norm %+v", ck.HasHead, ck.Params.NumClasses, ck.Params.Preset.ImageSize, ck.Config, ck.Norm)
	}
	if ck.Path != filepath.Join(dir, layout.ModelFile) {
		t.Errorf("path %s", ck.Path)
	}
	// No normalisation: refused, since inputs could not be prepared.
	if err := ckpt.Save(filepath.Join(dir, layout.ModelFile), ckpt.ParamTensors(ps), ckpt.Sidecar{Preset: "vit_nano"}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "normalisation") {
		t.Errorf("err = %v", err)
	}
	if _, err := LoadCheckpoint(t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds neither model.safetensors") {
		t.Errorf("empty folder: err = %v", err)
	}
}

// TestFinetuneFromAnImportedBackbone starts a fine-tune from imported
// weights of an architecture outside the preset table, without
// normalisation: the run builds the checkpoint's architecture, takes the
// train split's statistics, and its own checkpoints record the
// architecture, so that they load and resume.
func TestFinetuneFromAnImportedBackbone(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, smallSpec)
	p := vit.CustomPreset(16, 2, 2)
	pre, err := vit.New(p, 0, rand.New(rand.NewPCG(3, 0)))
	if err != nil {
		t.Fatal(err)
	}
	preDir := filepath.Join(t.TempDir(), "imported")
	sc := ckpt.Sidecar{Preset: p.Name, Architecture: ckpt.ArchitectureOf(p), Source: &ckpt.Source{File: "w.pth", Format: "pytorch"}}
	if err := ckpt.Save(filepath.Join(preDir, layout.ModelFile), ckpt.ParamTensors(pre), sc); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(preDir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Params.Preset.Name != "vit_d16_depth2_heads2" || ck.Params.Preset.Heads != 2 || ck.HasHead || ck.Norm != (augment.Normalization{}) {
		t.Errorf("imported checkpoint: preset %+v, head %v, norm %+v", ck.Params.Preset, ck.HasHead, ck.Norm)
	}

	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, dataDir, out, func(c *config.Config) {
		c.Experiment.Method, c.Finetune.Checkpoint, c.Train.Epochs = config.Finetune, preDir, 1
	})
	var logs []string
	run, err := NewClassifierRun(cfg, Options{Progress: func(r shared.Metric) { logs = append(logs, r.Message) }})
	if err != nil {
		t.Fatal(err)
	}
	if run.Params.Preset.Name != p.Name || !equalBits(run.Params.Get("blocks.1.attn.qkv.weight").Data, pre.Get("blocks.1.attn.qkv.weight").Data) {
		t.Errorf("run backbone %s does not come from the imported checkpoint", run.Params.Preset.Name)
	}
	joined := strings.Join(logs, "\n")
	for _, want := range []string{"backbone architecture vit_d16_depth2_heads2", "imported weights carry no normalisation"} {
		if !strings.Contains(joined, want) {
			t.Errorf("setup log lacks %q:\n%s", want, joined)
		}
	}
	run.Close()
	os.RemoveAll(out)
	stopped := func(r shared.Metric) bool { return r.Kind == shared.MetricStep && r.Step == 1 }
	if _, _, err := train(t, cfg, Options{}, stopped); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v", err)
	}
	if _, _, err := train(t, cfg, Options{Resume: out}, nil); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	tuned, err := LoadCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	if tuned.Params.Preset.Name != p.Name || tuned.Sidecar.Architecture == nil || !tuned.HasHead {
		t.Errorf("fine-tuned checkpoint: preset %s, architecture %+v, head %v", tuned.Params.Preset.Name, tuned.Sidecar.Architecture, tuned.HasHead)
	}
}

func TestConfigSurvivesTheSidecar(t *testing.T) {
	c := config.Default(config.Supervised)
	c.Experiment.Seed = 1<<63 + 12345 // beyond float64's integers
	c.Input.DataPath = "data/sim"
	c.Optimizer.FinalLR = 1e-8
	b, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"data path":"data/sim"`) {
		t.Errorf("sidecar config does not use the YAML keys: %.200s", b)
	}
	got, err := configFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff, err := config.Diff(&c, got); err != nil || diff != "" || got.Experiment.Seed != c.Experiment.Seed {
		t.Errorf("round trip: diff %q, err %v, seed %d", diff, err, got.Experiment.Seed)
	}
}
