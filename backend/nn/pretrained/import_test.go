package pretrained

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
)

// toySource writes a safetensors file holding a 16-wide, 2-block ViT
// trained at 48 px (a 6x6 grid), its keys under prefix, with extra tensors,
// and returns the file and the backbone.
func toySource(t *testing.T, prefix string, extra ...ckpt.Tensor) (string, *vit.Params) {
	t.Helper()
	return sourceOf(t, vit.CustomPreset(16, 2, 2), prefix, extra...)
}

// sourceOf writes a safetensors file of preset p trained at 48 px.
func sourceOf(t *testing.T, p vit.Preset, prefix string, extra ...ckpt.Tensor) (string, *vit.Params) {
	t.Helper()
	p.ImageSize = 48
	ps, err := vit.New(p, 0, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	var ts []ckpt.Tensor
	for _, t := range ckpt.ParamTensors(ps) {
		t.Name = prefix + t.Name
		ts = append(ts, t)
	}
	path := filepath.Join(t.TempDir(), "src", "w.safetensors")
	if err := ckpt.Save(path, append(ts, extra...), ckpt.Sidecar{}); err != nil {
		t.Fatal(err)
	}
	return path, ps
}

func TestImportSafetensors(t *testing.T) {
	head := ckpt.Tensor{Name: "module.head.mlp.0.weight", Shape: []int{2}, Data: []float32{1, 2}}
	src, want := toySource(t, "module.backbone.", head)
	out := filepath.Join(t.TempDir(), "imported")
	im, err := Import(src, Options{Out: out, Heads: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := im.Params.Preset
	if p.Name != "vit_d16_depth2_heads2" || p.ImageSize != 32 || p.Heads != 2 || im.Params.NumClasses != 0 {
		t.Errorf("preset %+v, classes %d", p, im.Params.NumClasses)
	}
	pos, err := vit.InterpolatePosEmbed(want.Get("pos_embed").Data, 16, 6, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := im.Params.Get("pos_embed"); !slices.Equal(got.Data, pos) || !slices.Equal(got.Shape, []int{1, 17, 16}) {
		t.Errorf("pos_embed %v is not the 4x4 resampling", got.Shape)
	}
	// RGB channel c of the source is band rgbBands[c] (i, r, g) of sslens.
	w, src0 := im.Params.Get(patchKey).Data, want.Get(patchKey).Data
	for d := range 16 {
		for c, band := range rgbBands {
			if !slices.Equal(w[(d*3+band)*64:][:64], src0[(d*3+c)*64:][:64]) {
				t.Fatalf("patch weight: output %d band %d is not source channel %d", d, band, c)
			}
		}
	}
	if !slices.Equal(im.Params.Get("blocks.1.mlp.fc2.weight").Data, want.Get("blocks.1.mlp.fc2.weight").Data) {
		t.Error("blocks.1.mlp.fc2.weight differs")
	}

	ts, sc, err := ckpt.Load(im.Path)
	if err != nil {
		t.Fatal(err)
	}
	s := sc.Source
	if len(ts) != want.Len() || s == nil || s.Format != "safetensors" || s.Prefix != "module.backbone." || s.Channels != "i,r,g" ||
		!slices.Equal(s.Dropped, []string{head.Name}) || len(s.Taken) != want.Len() || s.Taken[0] != "module.backbone.cls_token" ||
		!strings.Contains(s.PosEmbed, "6x6 -> 4x4") || s.File != "w.safetensors" || len(s.SHA256) != 64 {
		t.Errorf("%d tensors, source %+v", len(ts), s)
	}
	if q, err := sc.Backbone(); err != nil || q.Name != p.Name || q.Heads != 2 {
		t.Errorf("sidecar backbone %+v, %v", q, err)
	}

	kept, err := Import(src, Options{Heads: 2, KeepChannels: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kept.Params.Get(patchKey).Data, src0) || kept.Sidecar.Source.Channels != "" || kept.Path != "" {
		t.Errorf("KeepChannels: weights permuted or channels %q, path %q", kept.Sidecar.Source.Channels, kept.Path)
	}
}

// TestImportNamedPreset takes 64-wide heads, as public ViTs have, unless
// a preset or a head count is named; the sidecar records the architecture
// all the same.
func TestImportNamedPreset(t *testing.T) {
	nano, _ := vit.LookupPreset("vit_nano")
	src, _ := sourceOf(t, nano, "module.")
	for _, tc := range []struct {
		opt   Options
		name  string
		heads int
	}{
		{Options{}, "vit_d128_depth6_heads2", 2},
		{Options{Preset: "ViT-N/8"}, "vit_nano", 4},
		{Options{Heads: 8}, "vit_d128_depth6_heads8", 8},
	} {
		im, err := Import(src, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		p := im.Params.Preset
		if p.Name != tc.name || p.Heads != tc.heads || im.Sidecar.Architecture == nil || im.Sidecar.Architecture.Heads != tc.heads ||
			im.Sidecar.Source.Prefix != "module." {
			t.Errorf("%+v: preset %s with %d heads, sidecar %+v", tc.opt, p.Name, p.Heads, im.Sidecar)
		}
	}
}

func TestImportRefuses(t *testing.T) {
	plain, _ := toySource(t, "")
	scaled, _ := toySource(t, "backbone.", ckpt.Tensor{Name: "backbone.blocks.0.ls1.gamma", Shape: []int{16}, Data: make([]float32, 16)})
	patch16 := filepath.Join(t.TempDir(), "p16.safetensors")
	if err := ckpt.Save(patch16, []ckpt.Tensor{{Name: patchKey, Shape: []int{16, 3, 16, 16}, Data: make([]float32, 16*3*256)}}, ckpt.Sidecar{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		opt       Options
		want      string
	}{
		{"no heads for a custom width", plain, Options{}, "which no preset is: give the number of heads"},
		{"preset of another shape", plain, Options{Preset: "vit_small"}, "16 wide and 2 blocks deep, vit_small is 384 and 12"},
		{"layer scale", scaled, Options{Heads: 2}, "backbone.blocks.0.ls1.gamma (16,) is part of the backbone"},
		{"patch 16", patch16, Options{}, "patch size 16"},
		{"student of a safetensors", plain, Options{Heads: 2, From: "student"}, "holds one state dict"},
		{"bad from", plain, Options{From: "ema"}, `from "ema": want teacher or student`},
		{"unknown extension", strings.TrimSuffix(plain, ".safetensors") + ".json", Options{}, "unknown extension"},
	} {
		_, err := Import(tc.src, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
