// Package memplan plans a training step's memory: how much one backbone
// pass holds per crop, what a step of a config needs with its backbone run
// in micro-batches of a given size, and the largest micro-batch that fits
// a budget. It is arithmetic on the model's shapes, free of any training
// engine, so that the portal can check a config before it launches it;
// backend/nn's tests check the estimate against the heap its machines
// really hold.
package memplan

import (
	"fmt"

	"github.com/dustin/go-humanize"

	"github.com/sslens/sslens/backend/nn/vit"
)

// A compiled machine keeps every op's output and caches from one run to
// the next, so a training step's memory is, to first order, the sum over
// its machines of the values they hold, plus the parameters and optimiser
// state. The estimate counts those values op by op (float32).

// PassBytes estimates the bytes a compiled backbone pass holds per crop of
// size px: the forward's values, and with backward the gradients too.
func PassBytes(p vit.Preset, size int, backward bool) int64 {
	g := int64(p.Grid(size))
	t, d, m, h := g*g+1, int64(p.Dim), int64(p.MLPRatio*p.Dim), int64(p.Heads)
	ps := int64(p.PatchSize)
	// Per block, forward: two LayerNorms (and their statistics), qkv,
	// attention (probabilities, and with dropout its mask and the dropped
	// probabilities), proj, two residuals, fc1, GELU (and its CDF), fc2.
	block := 9*t*d + 3*t*m + 3*h*t*t + 4*t
	embed := g*g*int64(p.InChans)*ps*ps + 2*g*g*d + 3*t*d // patches, embeddings, tokens, final norm
	if backward {
		// The gradient of every value above but the inputs', and the
		// attention backward's scratch.
		block += 11*t*d + 3*t*m + h*t*t
		embed += 2*g*g*d + 3*t*d
	}
	return 4 * (int64(p.Depth)*block + embed)
}

// BackboneValues is the number of parameters of a preset's backbone.
func BackboneValues(p vit.Preset) int64 {
	d, m, g := int64(p.Dim), int64(p.MLPRatio*p.Dim), int64(p.Grid(p.ImageSize))
	block := 4*d + 3*d*d + d*d + d + 2*d*m + m + d
	if p.QKVBias {
		block += 3 * d
	}
	return int64(p.Depth)*block + d*int64(p.InChans*p.PatchSize*p.PatchSize) + d + d + (g*g+1)*d + 2*d
}

// CropGroup is one size of crop in a step: PerImage crops of Size px for
// every image of the batch (DINO's 2 globals, its locals, SimSiam's 2
// views).
type CropGroup struct {
	PerImage, Size int
	Teacher        bool // the teacher runs the crops too (DINO's and iBOT's globals)
}

// StepMemory describes a training step for memory planning.
type StepMemory struct {
	Preset vit.Preset
	Batch  int
	Groups []CropGroup
	// Fixed is what does not depend on the chunk: parameters, the
	// optimiser's state and the step's gradients, the heads, the data.
	Fixed int64
}

// Bytes estimates the step's peak memory with the backbone run chunk
// images at a time (chunk >= Batch: the one-pass graphs). A chunk that
// does not divide the batch adds the machines of the remainder.
func (s StepMemory) Bytes(chunk int) int64 {
	total := s.Fixed
	sizes := []int{min(chunk, s.Batch)}
	if r := s.Batch % chunk; chunk < s.Batch && r != 0 {
		sizes = append(sizes, r)
	}
	grads := 4 * BackboneValues(s.Preset) // the parameters' gradients each training machine holds
	if chunk >= s.Batch {
		total += grads // one graph for every group
	}
	for _, g := range s.Groups {
		for _, n := range sizes {
			rows := int64(g.PerImage * n)
			total += rows * PassBytes(s.Preset, g.Size, true)
			if chunk < s.Batch {
				// The chunk's own gradients and its features pass.
				total += grads + rows*PassBytes(s.Preset, g.Size, false)
			}
			if g.Teacher {
				total += rows * PassBytes(s.Preset, g.Size, false)
			}
		}
		if chunk < s.Batch {
			// The heads' input and its gradient: all crops' tokens.
			t := int64(s.Preset.Grid(g.Size))
			total += 2 * 4 * int64(g.PerImage*s.Batch) * (t*t + 1) * int64(s.Preset.Dim)
		}
	}
	return total
}

// MinChunk is 1, the smallest chunk; Bytes(MinChunk) is the least memory a
// step can take.
const MinChunk = 1

// Fit returns the largest chunk whose step fits in budget bytes, preferring
// divisors of the batch (one set of machines); an error names the least
// budget the step needs.
func (s StepMemory) Fit(budget int64) (int, error) {
	if least := s.Bytes(MinChunk); least > budget {
		return 0, fmt.Errorf("a %s step needs at least %s (one image per backbone pass), more than the %s allowed",
			s.Preset.Name, humanize.IBytes(uint64(least)), humanize.IBytes(uint64(budget)))
	}
	for c := s.Batch; c > MinChunk; c-- {
		if s.Batch%c == 0 && s.Bytes(c) <= budget {
			return c, nil
		}
	}
	return MinChunk, nil
}
