package memplan

import (
	"fmt"

	"github.com/dustin/go-humanize"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/shared"
)

// globalCrops is DINO's and iBOT's global crops per image (nn.Globals).
const globalCrops = 2

// runtimeAllowance is what a memory plan adds for what it does not count:
// the Go runtime and binary, BLAS, the data pipeline's buffers.
const runtimeAllowance = 256 << 20

// PretrainStep describes cfg's pretraining step on preset p for memory
// planning; data is the bytes of the images the run holds.
func PretrainStep(cfg *config.Config, p vit.Preset, data int64) StepMemory {
	a := cfg.Augmentation
	s := StepMemory{Preset: p, Batch: cfg.Train.BatchSize}
	// Student, gradients, AdamW's two moments; DINO's and iBOT's teacher.
	copies := int64(4)
	if cfg.Experiment.Method == config.SimSiam {
		s.Groups = []CropGroup{{PerImage: 2, Size: a.CropSize}}
	} else {
		copies++
		s.Groups = []CropGroup{{PerImage: globalCrops, Size: a.GlobalCropSize, Teacher: true}}
		if a.NumLocalCrops > 0 {
			s.Groups = append(s.Groups, CropGroup{PerImage: a.NumLocalCrops, Size: a.LocalCropSize})
		}
	}
	s.Fixed = copies*4*BackboneValues(p) + headBytes(cfg, p) + data + runtimeAllowance
	return s
}

// headBytes estimates what the heads hold in a pretraining step: they run
// on the whole batch, each head row (a crop's class token; for iBOT every
// token) keeping every layer's output (Linear, BatchNorm, GELU of its
// width) and, in the student's, its gradient.
func headBytes(cfg *config.Config, p vit.Preset) int64 {
	n, a, b := cfg.Network, cfg.Augmentation, int64(cfg.Train.BatchSize)
	if cfg.Experiment.Method == config.SimSiam {
		perRow := int64(3*n.ProjectorHiddenDim*(n.ProjectorNLayers-1) + 2*n.HeadOutputDim + 3*n.PredictorHiddenDim + n.HeadOutputDim)
		return 4 * 2 * 2 * b * perRow
	}
	perRow := int64(3*n.HeadHiddenDim*(n.HeadNLayers-1) + 2*n.HeadBottleneckDim + 2*n.HeadOutputDim)
	if cfg.Experiment.Method == config.IBOT && !n.SharedHead {
		perRow += 2 * int64(n.PatchOutDim)
	}
	tokens := func(size int) int64 { g := int64(p.Grid(size)); return g*g + 1 }
	globals, locals := globalCrops*b, int64(a.NumLocalCrops)*b
	if cfg.Experiment.Method == config.IBOT {
		globals, locals = globals*tokens(a.GlobalCropSize), locals*tokens(a.LocalCropSize)
	}
	return 4 * perRow * (2*(globals+locals) + globals) // the student's with gradients, the teacher's
}

// classifierStep describes a fine-tuning step of cfg on preset p:
// parameters and AdamW's two moments besides the machines.
func classifierStep(cfg *config.Config, p vit.Preset, data int64) StepMemory {
	return StepMemory{Preset: p, Batch: cfg.Train.BatchSize, Groups: []CropGroup{{PerImage: 1, Size: p.ImageSize}},
		Fixed: 3*4*BackboneValues(p) + data + runtimeAllowance}
}

// Plan is how a step runs: its backbone Chunk images at a time and
// the Estimate of its peak memory, in bytes.
type Plan struct {
	Chunk    int
	Estimate int64
	Budget   int64 // train args.max_memory, 0 for none
}

// String says the plan in a log line's words.
func (m Plan) String() string {
	s := fmt.Sprintf("estimated peak memory %s", humanize.IBytes(uint64(m.Estimate)))
	switch {
	case m.Budget > 0 && m.Estimate > m.Budget:
		s += fmt.Sprintf(", more than the %s allowed: train args.micro_batch overrides train args.max_memory", humanize.IBytes(uint64(m.Budget)))
	case m.Budget > 0:
		s += fmt.Sprintf(" of the %s allowed", humanize.IBytes(uint64(m.Budget)))
	}
	return s
}

// Choose picks the micro-batch of a step: train args.micro_batch when
// set, else the largest that fits train args.max_memory, else the whole
// batch. A budget too small for one image per pass is refused, naming the
// least the step needs.
func Choose(cfg *config.Config, s StepMemory) (Plan, error) {
	budget, err := cfg.Train.MemoryBudget()
	if err != nil {
		return Plan{}, err
	}
	m := Plan{Chunk: cfg.Train.BatchSize, Budget: budget}
	switch {
	case cfg.Train.MicroBatch > 0:
		m.Chunk = min(cfg.Train.MicroBatch, cfg.Train.BatchSize)
	case budget > 0:
		if m.Chunk, err = s.Fit(budget); err != nil {
			return Plan{}, shared.FieldErrorf("train args.max_memory", "%v", err)
		}
	}
	m.Estimate = s.Bytes(m.Chunk)
	return m, nil
}

// Pretrain plans the memory of a pretraining run of cfg on preset p,
// before its data is loaded (the plan then adds the data's bytes).
func Pretrain(cfg *config.Config, p vit.Preset) (Plan, error) {
	return Choose(cfg, PretrainStep(cfg, p, 0))
}

// Classifier plans the memory of a supervised or fine-tuning run of
// cfg (its data not counted): Chunk is the classifier's Options.Batch.
func Classifier(cfg *config.Config) (Plan, error) {
	p, err := cfg.Preset()
	if err != nil {
		return Plan{}, err
	}
	return Choose(cfg, classifierStep(cfg, p, 0))
}

// Config plans the memory of a run of cfg, pretraining or
// classifier, its data not counted.
func Config(cfg *config.Config) (Plan, error) {
	if !cfg.IsSSL() {
		return Classifier(cfg)
	}
	p, err := cfg.Preset()
	if err != nil {
		return Plan{}, err
	}
	return Pretrain(cfg, p)
}

// Note says the plan for a run's log.
func (m Plan) Note(batch int) string {
	if m.Chunk >= batch {
		return fmt.Sprintf("memory: the whole batch of %d per backbone pass, %s", batch, m)
	}
	return fmt.Sprintf("memory: micro-batches of %d images per backbone pass (gradients accumulated; the heads and loss see the batch of %d), %s", m.Chunk, batch, m)
}
