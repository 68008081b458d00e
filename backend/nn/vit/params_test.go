package vit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func testRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// toyPreset is a two-block network small enough to check element by element.
func toyPreset() Preset {
	return Preset{Name: "toy", Dim: 8, Depth: 2, Heads: 2, MLPRatio: 4, PatchSize: 8, ImageSize: 16,
		InChans: 3, DropPath: 0.1, AttnDrop: 0.2, QKVBias: true}
}

func TestNewNamesAndShapes(t *testing.T) {
	ps, err := New(toyPreset(), 2, testRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	// timm's VisionTransformer(img_size=16, patch_size=8, embed_dim=8, depth=2,
	// num_heads=2, num_classes=2).named_parameters(), in order.
	want := []string{
		"cls_token (1, 1, 8)", "pos_embed (1, 5, 8)", "patch_embed.proj.weight (8, 3, 8, 8)", "patch_embed.proj.bias (8,)",
	}
	for i := 0; i < 2; i++ {
		b := fmt.Sprintf("blocks.%d.", i)
		want = append(want, b+"norm1.weight (8,)", b+"norm1.bias (8,)", b+"attn.qkv.weight (24, 8)", b+"attn.qkv.bias (24,)",
			b+"attn.proj.weight (8, 8)", b+"attn.proj.bias (8,)", b+"norm2.weight (8,)", b+"norm2.bias (8,)",
			b+"mlp.fc1.weight (32, 8)", b+"mlp.fc1.bias (32,)", b+"mlp.fc2.weight (8, 32)", b+"mlp.fc2.bias (8,)")
	}
	want = append(want, "norm.weight (8,)", "norm.bias (8,)", "head.weight (2, 8)", "head.bias (2,)")
	var got []string
	total := 0
	for _, p := range ps.List() {
		got = append(got, p.Name+" "+FormatShape(p.Shape))
		n := 1
		for _, s := range p.Shape {
			n *= s
		}
		if len(p.Data) != n {
			t.Errorf("%s: %d values for shape %s", p.Name, len(p.Data), FormatShape(p.Shape))
		}
		total += n
		if ps.Get(p.Name) != p {
			t.Errorf("Get(%q) does not return the listed parameter", p.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("parameters:\n got %q\nwant %q", got, want)
	}
	if ps.Len() != len(want) || ps.NumElements() != total {
		t.Errorf("Len %d NumElements %d, want %d %d", ps.Len(), ps.NumElements(), len(want), total)
	}
	if ps.Get("head.weight") == nil || ps.Get("nope") != nil {
		t.Error("Get: wrong presence")
	}

	noHead, _ := New(toyPreset(), 0, testRNG(1))
	if noHead.Get("head.weight") != nil || noHead.Len() != len(want)-2 {
		t.Errorf("numClasses 0: %d tensors, head present %v", noHead.Len(), noHead.Get("head.weight") != nil)
	}
	p := toyPreset()
	p.QKVBias = false
	noBias, _ := New(p, 0, testRNG(1))
	if noBias.Get("blocks.0.attn.qkv.bias") != nil {
		t.Error("QKVBias false still has attn.qkv.bias")
	}
}

func TestNumElementsOfPresets(t *testing.T) {
	// Counted from the shapes by hand, with a 2-class head at 32 px:
	// per block 4D + 3D^2+3D + D^2+D + 4D^2+4D + 4D^2+D = 12D^2 + 13D,
	// plus cls D, pos 17D, patch 192D+D, norm 2D, head 2D+2.
	for _, tc := range []struct {
		name string
		want int
	}{
		{"vit_nano", 6*(12*128*128+13*128) + 215*128 + 2},
		{"vit_tiny", 12*(12*192*192+13*192) + 215*192 + 2},
	} {
		p, _ := LookupPreset(tc.name)
		ps, err := New(p, 2, testRNG(2))
		if err != nil {
			t.Fatal(err)
		}
		if got := ps.NumElements(); got != tc.want {
			t.Errorf("%s: %d parameters, want %d", tc.name, got, tc.want)
		}
	}
}

func TestNewInit(t *testing.T) {
	p, _ := LookupPreset("vit_nano")
	ps, err := New(p, 2, testRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	convBound := 1 / math.Sqrt(3*8*8)
	for _, q := range ps.List() {
		mean, std, lo, hi := stats(q.Data)
		switch {
		case strings.HasPrefix(q.Name, "patch_embed."):
			// U(-b, b) has std b/sqrt(3).
			if lo < -convBound || hi > convBound || math.Abs(std-convBound/math.Sqrt(3)) > 0.1*convBound {
				t.Errorf("%s: range [%g, %g] std %g, want U(-%g, %g)", q.Name, lo, hi, std, convBound, convBound)
			}
		case strings.HasSuffix(q.Name, ".weight") && len(q.Shape) == 2, q.Name == "pos_embed", q.Name == "cls_token":
			tol := 0.1 * InitStd
			if len(q.Data) < 1000 {
				tol = 0.5 * InitStd
			}
			if math.Abs(std-InitStd) > tol || math.Abs(mean) > tol {
				t.Errorf("%s: mean %g std %g, want N(0, %g)", q.Name, mean, std, InitStd)
			}
		case strings.HasSuffix(q.Name, "norm1.weight"), strings.HasSuffix(q.Name, "norm2.weight"), q.Name == "norm.weight":
			if lo != 1 || hi != 1 {
				t.Errorf("%s: range [%g, %g], want all ones", q.Name, lo, hi)
			}
		case strings.HasSuffix(q.Name, ".bias"):
			if lo != 0 || hi != 0 {
				t.Errorf("%s: range [%g, %g], want zeros", q.Name, lo, hi)
			}
		default:
			t.Errorf("%s: no expectation for this parameter", q.Name)
		}
	}

	again, _ := New(p, 2, testRNG(3))
	other, _ := New(p, 2, testRNG(4))
	w := ps.Get("blocks.5.mlp.fc2.weight").Data
	if !slices.Equal(w, again.Get("blocks.5.mlp.fc2.weight").Data) {
		t.Error("same seed gives different weights")
	}
	if slices.Equal(w, other.Get("blocks.5.mlp.fc2.weight").Data) {
		t.Error("different seeds give the same weights")
	}
}

func TestTruncNormalBounds(t *testing.T) {
	// Bounds of +-1.5 std cut the tails: every draw inside, and the
	// variance of N(0,1) truncated at +-1.5 is 1 - 2*1.5*phi(1.5)/(2*Phi(1.5)-1).
	x := make([]float32, 200000)
	truncNormal(testRNG(5), x, 1, -1.5, 1.5)
	_, std, lo, hi := stats(x)
	phi := math.Exp(-1.125) / math.Sqrt(2*math.Pi)
	wantStd := math.Sqrt(1 - 3*phi/math.Erf(1.5/math.Sqrt2))
	if lo < -1.5 || hi > 1.5 || math.Abs(std-wantStd) > 0.005 {
		t.Errorf("range [%g, %g] std %g, want within +-1.5 and std %g", lo, hi, std, wantStd)
	}
}

func stats(x []float32) (mean, std, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range x {
		mean += float64(v)
		lo, hi = min(lo, float64(v)), max(hi, float64(v))
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(len(x))), lo, hi
}

func TestNoDecay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape []int
		want  bool
	}{
		{"blocks.0.attn.qkv.weight", []int{24, 8}, false},
		{"blocks.0.attn.qkv.bias", []int{24}, true},
		{"blocks.0.norm1.weight", []int{8}, true},
		{"patch_embed.proj.weight", []int{8, 3, 8, 8}, false},
		{"pos_embed", []int{1, 17, 8}, true},
		{"cls_token", []int{1, 1, 8}, true},
		{"head.last_layer.bias", []int{4, 1}, true}, // a bias whatever its shape
		{"head.weight", []int{2, 8}, false},
	} {
		if got := NoDecay(tc.name, tc.shape); got != tc.want {
			t.Errorf("NoDecay(%s %v) = %v, want %v", tc.name, tc.shape, got, tc.want)
		}
	}
	ps, _ := New(toyPreset(), 2, testRNG(1))
	for _, p := range ps.List() {
		if p.NoDecay != NoDecay(p.Name, p.Shape) {
			t.Errorf("%s: NoDecay %v disagrees with the rule", p.Name, p.NoDecay)
		}
	}
}

func TestParamsAddAndClone(t *testing.T) {
	var ps Params
	if _, err := ps.Add("w", []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		shape []int
		want  string
	}{
		{"w", []int{1}, `"w" added twice`},
		{"", []int{1}, "empty name"},
		{"z", []int{2, 0}, "(2, 0) has a non-positive size"},
	} {
		if _, err := ps.Add(tc.name, tc.shape); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%q, %v): error %v, want %q", tc.name, tc.shape, err, tc.want)
		}
	}
	orig, _ := New(toyPreset(), 2, testRNG(6))
	c := orig.Clone()
	c.Get("norm.weight").Data[0] = 42
	c.Get("norm.weight").Shape[0] = 9
	if orig.Get("norm.weight").Data[0] != 1 || orig.Get("norm.weight").Shape[0] != 8 {
		t.Error("Clone shares storage with the original")
	}
	if c.Len() != orig.Len() || c.Preset != orig.Preset || c.NumClasses != 2 || c.Get("head.bias") == nil {
		t.Error("Clone lost parameters or fields")
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	p := toyPreset()
	p.Heads = 3
	if _, err := New(p, 2, testRNG(1)); err == nil || !strings.Contains(err.Error(), "Heads 3") {
		t.Errorf("bad preset: error %v", err)
	}
	if _, err := New(toyPreset(), -1, testRNG(1)); err == nil || !strings.Contains(err.Error(), "numClasses is -1") {
		t.Errorf("negative classes: error %v", err)
	}
}

func TestFormatShape(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		want  string
	}{{[]int{384}, "(384,)"}, {[]int{3, 8, 8}, "(3, 8, 8)"}, {nil, "()"}} {
		if got := FormatShape(tc.shape); got != tc.want {
			t.Errorf("FormatShape(%v) = %s, want %s", tc.shape, got, tc.want)
		}
	}
}
