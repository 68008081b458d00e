package pretrained

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/nn/vit"
)

// prefixes are the key prefixes a backbone's weights carry, longest first:
// DINO's student is wrapped in DistributedDataParallel (module.) around a
// MultiCropWrapper (backbone.), its teacher and iBOT's released weights in
// the wrapper alone.
var prefixes = []string{"module.backbone.", "backbone.", "module.", ""}

// patchKey is the tensor every timm-layout ViT has: it fixes the prefix,
// width, input channels and patch size.
const patchKey = "patch_embed.proj.weight"

// findPrefix returns the prefix under which sd holds a ViT backbone.
func findPrefix(sd stateDict) (string, error) {
	for _, p := range prefixes {
		if _, ok := sd.get(p + patchKey); ok {
			return p, nil
		}
	}
	var some []string
	for _, e := range sd.entries[:min(len(sd.entries), 5)] {
		some = append(some, e.name)
	}
	return "", fmt.Errorf("no %s under any of the prefixes %q: not a timm-layout ViT (its keys begin %s)",
		patchKey, prefixes, strings.Join(some, ", "))
}

// shapeOptions are the choices the weights cannot show.
type shapeOptions struct {
	preset string // a preset name the weights must fit, or ""
	heads  int    // attention heads, 0 for the preset's
}

// inferPreset reads the architecture from the shapes of the backbone's
// tensors (keys without prefix): width and input channels from the patch
// embedding, which must cut 8 px patches; depth from the blocks; MLP ratio
// and qkv bias from the first block. The heads come from opt (its heads,
// else the preset it names), else are 64 wide as in every public ViT (timm,
// DINO and iBOT: ViT-S/8 has 6, ViT-B/8 12; sslens's own vit_small has 8, so
// sslens's preset table is not the right guess for public weights); a result
// outside the preset table is named after its shape.
func inferPreset(sd stateDict, prefix string, opt shapeOptions) (vit.Preset, error) {
	pe, _ := sd.get(prefix + patchKey)
	if len(pe.shape) != 4 || pe.shape[2] != pe.shape[3] {
		return vit.Preset{}, fmt.Errorf("%s has shape %s, want (dim, channels, patch, patch)", patchKey, vit.FormatShape(pe.shape))
	}
	dim, chans, patch := pe.shape[0], pe.shape[1], pe.shape[2]
	const sslensPatch = 8
	if patch != sslensPatch {
		return vit.Preset{}, fmt.Errorf("patch size %d (%s %s): sslens's ViTs cut 32 px cutouts into %d px patches, "+
			"and the patch embedding of a patch-%d model cannot be resampled to them without changing what it learned; "+
			"use a patch-%d model (ViT-S/8, ViT-B/8)", patch, patchKey, vit.FormatShape(pe.shape), sslensPatch, patch, sslensPatch)
	}
	if chans != 3 {
		return vit.Preset{}, fmt.Errorf("%s has %d input channels, sslens's cutouts have 3 bands (g, r, i)", patchKey, chans)
	}
	depth := 0
	for {
		if _, ok := sd.get(prefix + "blocks." + strconv.Itoa(depth) + ".norm1.weight"); !ok {
			break
		}
		depth++
	}
	if depth == 0 {
		return vit.Preset{}, fmt.Errorf("no %sblocks.0.norm1.weight: the backbone has no transformer blocks", prefix)
	}
	fc1, ok := sd.get(prefix + "blocks.0.mlp.fc1.weight")
	if !ok || len(fc1.shape) != 2 || fc1.shape[1] != dim || fc1.shape[0]%dim != 0 {
		return vit.Preset{}, fmt.Errorf("%sblocks.0.mlp.fc1.weight has shape %s, want (k*%d, %d)", prefix, vit.FormatShape(fc1.shape), dim, dim)
	}
	_, qkvBias := sd.get(prefix + "blocks.0.attn.qkv.bias")

	heads := opt.heads
	named, isNamed := vit.PresetOfShape(dim, depth)
	if opt.preset != "" {
		q, err := vit.LookupPreset(opt.preset)
		if err != nil {
			return vit.Preset{}, err
		}
		if q.Dim != dim || q.Depth != depth {
			return vit.Preset{}, fmt.Errorf("the weights are %d wide and %d blocks deep, %s is %d and %d", dim, depth, q.Name, q.Dim, q.Depth)
		}
		named, isNamed = q, true
	}
	switch {
	case heads > 0:
	case opt.preset != "":
		heads = named.Heads
	case dim%64 == 0:
		heads = dim / 64 // public ViTs (timm, DINO, iBOT) have 64-wide heads
	case isNamed:
		heads = named.Heads
	default:
		return vit.Preset{}, fmt.Errorf("the weights are %d wide and %d blocks deep, which no preset is: give the number of heads", dim, depth)
	}
	if dim%heads != 0 {
		return vit.Preset{}, fmt.Errorf("%d heads do not divide the width %d", heads, dim)
	}
	p := vit.CustomPreset(dim, depth, heads)
	if ratio := fc1.shape[0] / dim; ratio != p.MLPRatio || qkvBias != p.QKVBias {
		p.MLPRatio, p.QKVBias = ratio, qkvBias
		if !p.IsNamed() {
			p.Name = fmt.Sprintf("vit_d%d_depth%d_heads%d_mlp%d", dim, depth, heads, ratio)
			if !qkvBias {
				p.Name += "_nobias"
			}
		}
	}
	return p, p.Validate()
}

// resamplePosEmbed resamples a (1, 1+g*g, dim) position embedding to the
// patch grid of p's ImageSize, as DINO's interpolate_pos_encoding, and
// says what it did ("" when the grid already fits).
func resamplePosEmbed(pos []float32, shape []int, p vit.Preset) ([]float32, string, error) {
	if len(shape) != 3 || shape[0] != 1 || shape[2] != p.Dim {
		return nil, "", fmt.Errorf("pos_embed has shape %s, want (1, tokens, %d)", vit.FormatShape(shape), p.Dim)
	}
	src := int(math.Round(math.Sqrt(float64(shape[1] - 1))))
	if src*src != shape[1]-1 {
		return nil, "", fmt.Errorf("pos_embed has %d tokens, not 1 + a square grid (a class token's position and the patches')", shape[1])
	}
	dst := p.Grid(p.ImageSize)
	if src == dst {
		return pos, "", nil
	}
	out, err := vit.InterpolatePosEmbed(pos, p.Dim, src, dst)
	if err != nil {
		return nil, "", err
	}
	return out, fmt.Sprintf("%dx%d -> %dx%d patch grid, bicubic with scale factor (%d+0.1)/%d as DINO's interpolate_pos_encoding; class position kept",
		src, src, dst, dst, dst, src), nil
}

// rgbBands is the sslens band (0 g, 1 r, 2 i) that meets each input
// channel (R, G, B) of natural-image weights: the reddest band on red.
var rgbBands = [3]int{2, 1, 0}

// bandNames are sslens's bands in input order.
var bandNames = [3]string{"g", "r", "i"}

// permuteChannels reorders the input channels of a patch embedding
// weight (dim, 3, ps, ps) so that band rgbBands[c] is weighted as channel
// c was, and returns the band order given to the source's channels.
func permuteChannels(w []float32, shape []int) ([]float32, string) {
	out := make([]float32, len(w))
	plane := shape[2] * shape[3]
	for d := 0; d < shape[0]; d++ {
		for c, band := range rgbBands {
			src := w[(d*3+c)*plane : (d*3+c+1)*plane]
			copy(out[(d*3+band)*plane:], src)
		}
	}
	names := make([]string, 3)
	for c, band := range rgbBands {
		names[c] = bandNames[band]
	}
	return out, strings.Join(names, ",")
}

// isBackboneKey reports keys that belong to a ViT backbone's body: left
// out silently they would change its features (DINOv2's layer scale,
// register tokens), so an unused one refuses the import.
func isBackboneKey(name string) bool {
	return slices.ContainsFunc([]string{"blocks.", "patch_embed.", "norm.", "reg_token", "register_tokens"},
		func(p string) bool { return strings.HasPrefix(name, p) })
}
