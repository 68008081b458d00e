package ckpt

import (
	"fmt"

	"github.com/sslens/sslens/backend/nn/vit"
)

// Architecture records a backbone that vit's preset table does not hold,
// such as an imported ViT-S/8 with DINO's 6 heads: what Sidecar.Preset
// names then.
type Architecture struct {
	Dim       int  `json:"dim"`
	Depth     int  `json:"depth"`
	Heads     int  `json:"heads"`
	MLPRatio  int  `json:"mlp_ratio"`
	PatchSize int  `json:"patch_size"`
	InChans   int  `json:"in_chans"`
	QKVBias   bool `json:"qkv_bias"`
}

// ArchitectureOf is p's architecture. A sidecar records it for a backbone
// outside the preset table, which its name alone cannot rebuild, and for
// imported weights, whose architecture a fine-tune then builds whatever
// its config names.
func ArchitectureOf(p vit.Preset) *Architecture {
	return &Architecture{Dim: p.Dim, Depth: p.Depth, Heads: p.Heads, MLPRatio: p.MLPRatio,
		PatchSize: p.PatchSize, InChans: p.InChans, QKVBias: p.QKVBias}
}

// Backbone returns the preset the checkpoint was saved from: the table
// preset sc.Preset names, or the recorded architecture under that name
// with the seed's 32 px input and regularisation. Callers set ImageSize,
// DropPath and AttnDrop for their use.
func (sc Sidecar) Backbone() (vit.Preset, error) {
	a := sc.Architecture
	if a == nil {
		p, err := vit.LookupPreset(sc.Preset)
		if err != nil {
			return vit.Preset{}, fmt.Errorf("ckpt: sidecar preset: %w", err)
		}
		return p, nil
	}
	p := vit.CustomPreset(a.Dim, a.Depth, a.Heads)
	p.MLPRatio, p.PatchSize, p.InChans, p.QKVBias = a.MLPRatio, a.PatchSize, a.InChans, a.QKVBias
	if sc.Preset != "" {
		p.Name = sc.Preset
	}
	if err := p.Validate(); err != nil {
		return vit.Preset{}, fmt.Errorf("ckpt: sidecar architecture: %w", err)
	}
	return p, nil
}

// Source records where imported weights came from and what was done to
// them, so that a checkpoint says which public model it holds.
type Source struct {
	File      string   `json:"file"`       // the imported file's name
	SHA256    string   `json:"sha256"`     // of the imported file
	Format    string   `json:"format"`     // "safetensors" or "pytorch"
	StateDict string   `json:"state_dict"` // where the weights were in the file, e.g. "teacher"; "" for the top level
	Prefix    string   `json:"prefix"`     // the key prefix removed, e.g. "module.backbone."
	Taken     []string `json:"taken"`      // source keys kept, before the prefix was removed
	Dropped   []string `json:"dropped"`    // source keys left out (heads, mask token, ...)
	// PosEmbed describes the position embedding's resampling, e.g. "28x28
	// -> 4x4 bicubic"; empty when the grid already fitted.
	PosEmbed string `json:"pos_embed,omitempty"`
	// Channels is the input band order given to the patch embedding's
	// input channels in the source's order, e.g. "i,r,g" when RGB weights
	// meet sslens's g, r, i bands with the reddest band on red; empty when
	// the channels were kept as stored.
	Channels string `json:"channels,omitempty"`
}
