package vit

import (
	"math"
	"strings"
	"testing"
)

func TestLookupPreset(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"vit_small", "vit_small"},
		{"ViT-S/8", "vit_small"},
		{"vits8", "vit_small"},
		{"vit-s", "vit_small"},
		{"small", "vit_small"},
		{"vit_small_patch8", "vit_small"},
		{"VIT_BASE", "vit_base"},
		{"ViT-B/8", "vit_base"},
		{"vit_tiny", "vit_tiny"},
		{"ViT-Ti/8", "vit_tiny"},
		{"vitti8", "vit_tiny"},
		{"vit_nano", "vit_nano"},
		{"ViT-N/8", "vit_nano"},
	} {
		p, err := LookupPreset(tc.in)
		if err != nil {
			t.Errorf("LookupPreset(%q): %v", tc.in, err)
			continue
		}
		if p.Name != tc.want {
			t.Errorf("LookupPreset(%q) = %s, want %s", tc.in, p.Name, tc.want)
		}
	}
	for _, bad := range []string{"", "vit_huge", "ViT-S/16", "s", "resnet50"} {
		_, err := LookupPreset(bad)
		if err == nil {
			t.Errorf("LookupPreset(%q): no error", bad)
			continue
		}
		for _, name := range []string{"vit_nano", "vit_tiny", "vit_small", "vit_base", "ViT-S/8"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("LookupPreset(%q) error %q does not list %s", bad, err, name)
			}
		}
	}
}

func TestPresetTable(t *testing.T) {
	for _, tc := range []struct {
		name              string
		dim, depth, heads int
	}{
		{"vit_nano", 128, 6, 4},
		{"vit_tiny", 192, 12, 3},
		{"vit_small", 384, 12, 8}, // the seed's 8 heads, not timm's 6
		{"vit_base", 768, 12, 12},
	} {
		p, err := LookupPreset(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Dim != tc.dim || p.Depth != tc.depth || p.Heads != tc.heads {
			t.Errorf("%s: D %d depth %d heads %d, want %d %d %d", tc.name, p.Dim, p.Depth, p.Heads, tc.dim, tc.depth, tc.heads)
		}
		if p.MLPRatio != 4 || p.PatchSize != 8 || p.ImageSize != 32 || p.InChans != 3 || !p.QKVBias ||
			p.DropPath != 0.1 || p.AttnDrop != 0.2 {
			t.Errorf("%s: seed settings differ: %+v", tc.name, p)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if got := len(Presets()); got != 4 {
		t.Errorf("Presets() has %d entries, want 4", got)
	}
}

func TestValidate(t *testing.T) {
	good, _ := LookupPreset("vit_nano")
	for _, tc := range []struct {
		name   string
		modify func(*Preset)
		want   string
	}{
		{"zero dim", func(p *Preset) { p.Dim = 0 }, "Dim is 0"},
		{"negative depth", func(p *Preset) { p.Depth = -1 }, "Depth is -1"},
		{"heads do not divide", func(p *Preset) { p.Heads = 3 }, "not a multiple of Heads 3"},
		{"image not whole patches", func(p *Preset) { p.ImageSize = 30 }, "ImageSize 30 is not a multiple of PatchSize 8"},
		{"drop path 1", func(p *Preset) { p.DropPath = 1 }, "DropPath 1"},
		{"negative attn drop", func(p *Preset) { p.AttnDrop = -0.1 }, "AttnDrop -0.1"},
		{"NaN drop path", func(p *Preset) { p.DropPath = math.NaN() }, "DropPath NaN"},
	} {
		p := good
		tc.modify(&p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestGridAndHeadDim(t *testing.T) {
	p, _ := LookupPreset("vit_small")
	// Global crops 32 px, local crops 16, 20 and 28 px.
	for _, tc := range []struct{ size, grid int }{{32, 4}, {16, 2}, {20, 2}, {28, 3}, {8, 1}, {7, 0}} {
		if got := p.Grid(tc.size); got != tc.grid {
			t.Errorf("Grid(%d) = %d, want %d", tc.size, got, tc.grid)
		}
	}
	if p.HeadDim() != 48 {
		t.Errorf("ViT-S/8 head dim %d, want 48", p.HeadDim())
	}
}

func TestDropPathAt(t *testing.T) {
	p, _ := LookupPreset("vit_small")
	for _, tc := range []struct {
		block int
		want  float64
	}{{0, 0}, {1, 0.1 / 11}, {5, 0.5 / 11}, {11, 0.1}} {
		if got := p.DropPathAt(tc.block); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("DropPathAt(%d) = %g, want %g", tc.block, got, tc.want)
		}
	}
	p.Depth = 1
	if got := p.DropPathAt(0); got != 0 {
		t.Errorf("depth 1: DropPathAt(0) = %g, want 0 (torch.linspace(0, r, 1) is [0])", got)
	}
}

func TestFLOPs(t *testing.T) {
	s, _ := LookupPreset("vit_small")
	n, _ := LookupPreset("vit_nano")
	// Worked by hand from the layer shapes, T = 17 tokens for 32 px, 5 for 16 px:
	// blocks 12 * (2*17*12*384^2 + 4*17^2*384) = 727271424,
	// patch embedding 2*16*384*192 = 2359296, head 2*384*2 = 1536.
	for _, tc := range []struct {
		p             Preset
		size, classes int
		want          int64
	}{
		{s, 32, 2, 727271424 + 2359296 + 1536},
		{s, 32, 0, 727271424 + 2359296},
		// 16 px: 12*(2*5*12*384^2 + 4*25*384) + 2*4*384*192.
		{s, 16, 0, 12*(2*5*12*384*384+4*25*384) + 2*4*384*192},
		// ViT-N/8: 6*(2*17*12*128^2 + 4*289*128) + 2*16*128*192 + 2*128*2.
		{n, 32, 2, 6*(2*17*12*128*128+4*289*128) + 2*16*128*192 + 2*128*2},
	} {
		if got := tc.p.FLOPs(tc.size, tc.classes); got != tc.want {
			t.Errorf("%s FLOPs(%d, %d) = %d, want %d", tc.p.Name, tc.size, tc.classes, got, tc.want)
		}
	}
}

func TestPresetOfShapeAndCustom(t *testing.T) {
	if p, ok := PresetOfShape(384, 12); !ok || p.Name != "vit_small" || p.Heads != 8 {
		t.Errorf("PresetOfShape(384, 12) = %+v, %v", p, ok)
	}
	if _, ok := PresetOfShape(48, 2); ok {
		t.Error("PresetOfShape(48, 2) found a preset")
	}
	for _, tc := range []struct {
		dim, depth, heads int
		name              string
		named             bool
	}{
		{384, 12, 8, "vit_small", true},
		{384, 12, 6, "vit_d384_depth12_heads6", false}, // DINO's and timm's ViT-S
		{48, 2, 3, "vit_d48_depth2_heads3", false},
	} {
		p := CustomPreset(tc.dim, tc.depth, tc.heads)
		if p.Name != tc.name || p.IsNamed() != tc.named || p.Validate() != nil || p.PatchSize != 8 || p.ImageSize != 32 {
			t.Errorf("CustomPreset(%d, %d, %d) = %+v, named %v", tc.dim, tc.depth, tc.heads, p, p.IsNamed())
		}
	}
	small, _ := LookupPreset("vit_small")
	small.Heads = 6
	if small.IsNamed() {
		t.Error("vit_small with 6 heads counts as the named preset")
	}
}
