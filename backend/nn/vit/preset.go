// Package vit defines sslens's Vision Transformer backbones independently of
// any execution engine: presets, parameter names, shapes and initialisation,
// FLOP counts, and the bicubic resampling of the position embedding for
// inputs of another size. A CPU graph and a GPU executor build the same
// network from a Params set, and checkpoints (backend/nn/ckpt) store it.
//
// The network is timm's (and DINO's) VisionTransformer: an image (C, H, W)
// is cut into (H/ps)*(W/ps) patches of ps x ps pixels by a strided
// convolution, a learned class token is put in front, a learned position
// embedding is added, and Depth pre-norm blocks follow,
//
//	x = x + drop_path(attn.proj(MHSA(attn.qkv(norm1(x)))))
//	x = x + drop_path(mlp.fc2(GELU(mlp.fc1(norm2(x)))))
//
// then a final LayerNorm (eps LayerNormEps). Tokens are (T, Dim) row-major
// with the class token first, T = 1 + number of patches. The outputs are the
// class token's feature (Dim) and all tokens (T, Dim); with NumClasses > 0 a
// linear head maps the class feature to logits. Parameter names and shapes
// are timm's, so a state dict built from Params loads into
// timm.models.vision_transformer.VisionTransformer(img_size=32,
// patch_size=8, embed_dim=Dim, depth=Depth, num_heads=Heads,
// num_classes=NumClasses) with strict=True.
package vit

import (
	"fmt"
	"strings"
	"unicode"
)

// LayerNormEps is the epsilon of every LayerNorm, as DINO's and timm's ViTs
// build them (partial(nn.LayerNorm, eps=1e-6)).
const LayerNormEps = 1e-6

// Preset is a ViT architecture and its regularisation. Sizes are in pixels
// (ImageSize, PatchSize) or features (Dim); MLPRatio multiplies Dim into the
// MLP's hidden width. DropPath is the stochastic-depth rate of the last block
// (DropPathAt gives each block's), AttnDrop the dropout on attention weights.
type Preset struct {
	Name      string
	Dim       int
	Depth     int
	Heads     int
	MLPRatio  int
	PatchSize int
	ImageSize int
	InChans   int
	DropPath  float64
	AttnDrop  float64
	QKVBias   bool
}

// seedPreset fills in the seed's common settings: 3 bands, 32 px centre
// crops, patch 8, MLP ratio 4, qkv bias, drop path 0.1, attention dropout 0.2.
func seedPreset(name string, dim, depth, heads int) Preset {
	return Preset{Name: name, Dim: dim, Depth: depth, Heads: heads, MLPRatio: 4, PatchSize: 8,
		ImageSize: 32, InChans: 3, DropPath: 0.1, AttnDrop: 0.2, QKVBias: true}
}

// presetEntry is one row of the preset table with the words LookupPreset
// accepts for it.
type presetEntry struct {
	preset Preset
	title  string // the paper's name, e.g. ViT-S/8
	letter string // the size letter in the title, lower case
	word   string // the size word in the name
}

// presetTable is read-only: ViT-S/8 has 8 heads as in the seed (timm's
// vit_small has 6), the others follow timm's widths and heads, and ViT-N/8
// is a small network for quick CPU work.
var presetTable = []presetEntry{
	{seedPreset("vit_nano", 128, 6, 4), "ViT-N/8", "n", "nano"},
	{seedPreset("vit_tiny", 192, 12, 3), "ViT-Ti/8", "ti", "tiny"},
	{seedPreset("vit_small", 384, 12, 8), "ViT-S/8", "s", "small"},
	{seedPreset("vit_base", 768, 12, 12), "ViT-B/8", "b", "base"},
}

// Presets returns the built-in presets, smallest first.
func Presets() []Preset {
	out := make([]Preset, len(presetTable))
	for i, e := range presetTable {
		out[i] = e.preset
	}
	return out
}

// LookupPreset returns the preset called name. Case, '-', '_', '/' and spaces
// are ignored, and each preset answers to its name (vit_small), its title
// (ViT-S/8), the short forms vits8, vits and small, and timm's stem
// (vit_small_patch8).
func LookupPreset(name string) (Preset, error) {
	key := normalizeName(name)
	for _, e := range presetTable {
		for _, alias := range []string{
			"vit" + e.word, "vit" + e.letter + "8", "vit" + e.letter, e.word, "vit" + e.word + "patch8",
		} {
			if key == alias {
				return e.preset, nil
			}
		}
	}
	names := make([]string, len(presetTable))
	for i, e := range presetTable {
		names[i] = fmt.Sprintf("%s (%s)", e.preset.Name, e.title)
	}
	return Preset{}, fmt.Errorf("vit: unknown preset %q; want one of %s", name, strings.Join(names, ", "))
}

func normalizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Validate reports the first setting that cannot build a network.
func (p Preset) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"Dim", p.Dim}, {"Depth", p.Depth}, {"Heads", p.Heads}, {"MLPRatio", p.MLPRatio},
		{"PatchSize", p.PatchSize}, {"ImageSize", p.ImageSize}, {"InChans", p.InChans}} {
		if f.v <= 0 {
			return fmt.Errorf("vit: preset %q: %s is %d, want > 0", p.Name, f.name, f.v)
		}
	}
	if p.Dim%p.Heads != 0 {
		return fmt.Errorf("vit: preset %q: Dim %d is not a multiple of Heads %d", p.Name, p.Dim, p.Heads)
	}
	if p.ImageSize%p.PatchSize != 0 {
		return fmt.Errorf("vit: preset %q: ImageSize %d is not a multiple of PatchSize %d", p.Name, p.ImageSize, p.PatchSize)
	}
	if !(p.DropPath >= 0 && p.DropPath < 1) || !(p.AttnDrop >= 0 && p.AttnDrop < 1) {
		return fmt.Errorf("vit: preset %q: DropPath %g and AttnDrop %g must lie in [0, 1)", p.Name, p.DropPath, p.AttnDrop)
	}
	return nil
}

// HeadDim is the width of one attention head.
func (p Preset) HeadDim() int { return p.Dim / p.Heads }

// Grid is the side of the patch grid for a square input of imageSize
// pixels: floor(imageSize/PatchSize), as the strided patch convolution
// drops the remainder (a 20 px local crop gives a 2x2 grid).
func (p Preset) Grid(imageSize int) int { return imageSize / p.PatchSize }

// DropPathAt is the stochastic-depth rate of block i (0-based): linear from
// 0 at the first block to DropPath at the last, as DINO's
// torch.linspace(0, drop_path_rate, depth).
func (p Preset) DropPathAt(i int) float64 {
	if p.Depth <= 1 {
		return 0
	}
	return p.DropPath * float64(i) / float64(p.Depth-1)
}

// FLOPs counts the floating-point operations of one image's forward pass at
// a square input of imageSize pixels, with a numClasses head (0 for none):
// two per multiply-add of the patch convolution, the linear layers and the
// two attention products. Norms, softmax, GELU and residual additions are
// left out (under 1% for these presets). A training step (forward and
// backward) costs about three times as much.
func (p Preset) FLOPs(imageSize, numClasses int) int64 {
	g := int64(p.Grid(imageSize))
	patches := g * g
	t, d := patches+1, int64(p.Dim)
	hidden := int64(p.MLPRatio) * d
	patchEmbed := 2 * patches * d * int64(p.InChans*p.PatchSize*p.PatchSize)
	block := 2*t*d*3*d + // qkv
		2*t*t*d + 2*t*t*d + // q k^T and attention times v, summed over heads
		2*t*d*d + // attn.proj
		2*t*d*hidden*2 // mlp.fc1 and mlp.fc2
	return patchEmbed + int64(p.Depth)*block + 2*d*int64(numClasses)
}

// PresetOfShape returns the named preset Dim dim wide and depth blocks
// deep, as an imported backbone's weights show them; ok is false when no
// preset has that shape. The weights do not show the number of heads: the
// preset's is only a default.
func PresetOfShape(dim, depth int) (p Preset, ok bool) {
	for _, e := range presetTable {
		if e.preset.Dim == dim && e.preset.Depth == depth {
			return e.preset, true
		}
	}
	return Preset{}, false
}

// CustomPreset is a backbone outside the preset table, such as an imported
// one: the seed's settings (patch 8, 32 px, MLP ratio 4, qkv bias) with the
// given width, depth and heads, named after them (vit_d48_depth2_heads3).
// A shape that is a table preset's gets that preset.
func CustomPreset(dim, depth, heads int) Preset {
	if p, ok := PresetOfShape(dim, depth); ok && p.Heads == heads {
		return p
	}
	return seedPreset(fmt.Sprintf("vit_d%d_depth%d_heads%d", dim, depth, heads), dim, depth, heads)
}

// IsNamed reports whether p is a table preset by name and architecture
// (its sizes and regularisation aside), so that its name alone rebuilds
// it.
func (p Preset) IsNamed() bool {
	q, err := LookupPreset(p.Name)
	return err == nil && q.Name == p.Name && q.Dim == p.Dim && q.Depth == p.Depth && q.Heads == p.Heads &&
		q.MLPRatio == p.MLPRatio && q.PatchSize == p.PatchSize && q.InChans == p.InChans && q.QKVBias == p.QKVBias
}
