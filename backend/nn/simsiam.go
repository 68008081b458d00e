package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// SimSiamOptions configure a SimSiam network: Batch images in two views of
// Size px each.
type SimSiamOptions struct {
	Head  SimSiamHead
	Batch int
	Size  int
	Seed  uint64 // dropout and drop path
	// Chunk, between 1 and Batch-1, micro-batches the backbone over the
	// views of Chunk images at a time (see chunkedCrops); 0 runs the whole
	// batch at once.
	Chunk int
	// double computes in float64 on copies of the parameters (see
	// storage): the exactness checks of micro-batching.
	double bool
}

// SimSiam is SimSiam's network and loss: both views pass through the
// backbone together, the projector gives z and the predictor p from z,
// each BatchNorm normalising the two views separately as two calls of
// the PyTorch modules would, and the loss is NegCosine(p, z): the
// stop-gradient sits on the target projections, so the predictor learns.
type SimSiam struct {
	opt   SimSiamOptions
	tg    *trainGraph
	fwd   *Forward
	crops *chunkedCrops // micro-batched: the backbone's chunks feeding fwd
	z     *gorgonia.Node
	out   []float32
}

// NewSimSiam builds the training graph from the backbone's and head's
// parameters (SimSiamHead.AddParams) and the head's running statistics.
// The graph computes with the parameters' storage; Vars share it.
func NewSimSiam(backbone, head *vit.Params, bufs Buffers, opt SimSiamOptions) (*SimSiam, error) {
	p := backbone.Preset
	if err := opt.Head.Validate(); err != nil {
		return nil, err
	}
	switch {
	case opt.Head.In != p.Dim:
		return nil, fmt.Errorf("nn: projector input %d, backbone width %d", opt.Head.In, p.Dim)
	case opt.Batch < 2:
		return nil, fmt.Errorf("nn: SimSiam batch %d: BatchNorm needs at least 2 images", opt.Batch)
	case p.Grid(opt.Size) <= 0:
		return nil, fmt.Errorf("nn: views of %d px hold no %d px patch", opt.Size, p.PatchSize)
	case opt.Chunk < 0:
		return nil, fmt.Errorf("nn: micro-batch of %d images, want > 0 (or 0: the whole batch)", opt.Chunk)
	}
	if err := checkHead(head, append(opt.Head.projector(), opt.Head.predictor()...)); err != nil {
		return nil, err
	}
	s := &SimSiam{opt: opt}
	g := gorgonia.NewGraph()
	st := newStorage(opt.double)
	var bb *Backbone
	var err error
	if microBatched(opt.Chunk, opt.Batch) {
		if s.crops, err = newChunkedCrops(g, st, backbone, nil, 2*opt.Batch, opt.Size, 2*opt.Chunk, forwardSeed(opt.Seed, 0), true); err != nil {
			return nil, err
		}
		s.fwd = s.crops.in
	} else {
		if bb, err = newBackbone(g, backbone, st); err != nil {
			return nil, err
		}
		if s.fwd, err = bb.Forward(2*opt.Batch, opt.Size, forwardSeed(opt.Seed, 0)); err != nil {
			return nil, err
		}
	}
	hg := newHeadGraph(g, st, head, bufs)
	b := &builder{}
	s.z = hg.apply(b, s.fwd.CLS, opt.Head.projector(), 2)
	pred := hg.apply(b, s.z, opt.Head.predictor(), 2)
	loss := b.do(func() (*gorgonia.Node, error) { return ops.NegCosine(pred, s.z) })
	if b.err != nil {
		return nil, b.err
	}
	var crops []*chunkedCrops
	if s.crops != nil {
		crops = append(crops, s.crops)
	}
	if s.tg, err = newTrainGraph(g, loss, bb, backbone, head, hg, nil, crops...); err != nil {
		return nil, err
	}
	return s, nil
}

// Vars returns the trainable parameters, the backbone's then the head's.
// Data is the parameters' storage; Grad is overwritten by every TrainStep.
func (s *SimSiam) Vars() []optim.Var { return append([]optim.Var(nil), s.tg.vars...) }

// Reseed makes the next TrainStep draw the dropout and drop-path masks of
// training step number step.
func (s *SimSiam) Reseed(step uint64) { s.tg.reseed(step) }

// TrainStep runs forward and backward on views [2·Batch, 3, Size, Size],
// the first view of every image then the second, leaves the gradients in
// the Vars and returns the loss.
func (s *SimSiam) TrainStep(views []float32) (float64, error) {
	load := s.fwd.SetImages
	if s.crops != nil {
		load = func(v []float32) error { return s.crops.SetImages(v, nil) }
	}
	if err := load(views); err != nil {
		return 0, fmt.Errorf("nn: simsiam: %w", err)
	}
	if err := s.tg.run(); err != nil {
		return 0, fmt.Errorf("nn: simsiam: %w", err)
	}
	return ops.Scalar(s.tg.loss.Value())
}

// Projections returns z [2·Batch, Out] of the latest step, the projector's
// outputs the collapse monitor measures. The slice is overwritten by the
// next call.
func (s *SimSiam) Projections() []float32 {
	s.out = append(s.out[:0], float32s(s.z.Value())...)
	return s.out
}

// Close releases the machine.
func (s *SimSiam) Close() { s.tg.close() }
