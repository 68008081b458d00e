package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Globals is the number of global crops in DINO and iBOT: the teacher sees
// them, the student sees them and the local crops.
const Globals = 2

// DINOOptions configure the student and teacher networks of DINO and iBOT.
//
// A batch holds Batch images in Globals global crops of GlobalSize px and
// LocalCrops local crops of LocalSize px, crop-major: crop v of image b is
// image v·Batch+b of its group. For DINO the head reads the class tokens
// of all crops, concatenated (globals first), as DINO's MultiCropWrapper
// runs it once over them; its BatchNorms see all crops together. For iBOT
// (IBOT set) it reads every token, once for the globals and once for the
// locals as iBOT's student runs, and the student replaces the masked patch
// embeddings of its global crops by the mask token.
type DINOOptions struct {
	Head        DINOHead
	Batch       int
	GlobalSize  int
	LocalCrops  int
	LocalSize   int
	IBOT        bool
	StudentTemp float64 // 0.1 in DINO and iBOT
	Seed        uint64  // the student's dropout and drop path
	// Chunk, between 1 and Batch-1, micro-batches the backbone: it runs
	// over the crops of Chunk images at a time (see chunkedCrops); 0 runs
	// the whole batch at once.
	Chunk int
	// double computes in float64 on copies of the parameters (see
	// storage): the exactness checks of micro-batching.
	double bool
}

// chunked reports whether the backbone runs in chunks.
func (o DINOOptions) chunked() bool { return microBatched(o.Chunk, o.Batch) }

func (o DINOOptions) validate(p vit.Preset) error {
	if err := o.Head.Validate(); err != nil {
		return err
	}
	if o.Head.In != p.Dim {
		return fmt.Errorf("nn: head input %d, backbone width %d", o.Head.In, p.Dim)
	}
	switch {
	case o.Batch <= 0 || o.LocalCrops < 0:
		return fmt.Errorf("nn: %d images per crop and %d local crops: want a positive batch", o.Batch, o.LocalCrops)
	case p.Grid(o.GlobalSize) <= 0 || (o.LocalCrops > 0 && p.Grid(o.LocalSize) <= 0):
		return fmt.Errorf("nn: crops of %d and %d px hold no %d px patch", o.GlobalSize, o.LocalSize, p.PatchSize)
	case !(o.StudentTemp > 0):
		return fmt.Errorf("nn: student temperature %g, want > 0", o.StudentTemp)
	case o.Chunk < 0:
		return fmt.Errorf("nn: micro-batch of %d images, want > 0 (or 0: the whole batch)", o.Chunk)
	}
	return nil
}

// patches is the number of patches of a global crop.
func (o DINOOptions) patches(p vit.Preset) int { g := p.Grid(o.GlobalSize); return g * g }

// DINOTeacher is the teacher network: a forward pass over the global crops
// with dropout and drop path off and the head's BatchNorms on batch
// statistics, as DINO's teacher, which is never put in evaluation mode.
type DINOTeacher struct {
	opt        DINOOptions
	g          *gorgonia.ExprGraph
	vm         gorgonia.VM
	fwd        *Forward
	crops      *chunkedCrops  // micro-batched, the backbone's chunks feeding fwd
	cls, patch *gorgonia.Node // head outputs, see Forward
	outCLS     []float32
	outPatch   []float32
	st         *storage // the parameters' values
	closed     bool
}

// NewDINOTeacher builds the teacher from its backbone and head parameters
// (the head as DINOHead.AddParams makes it) and the head's running
// statistics. The network computes with the parameters' storage, so an
// EMA update of them is what the next Forward uses.
func NewDINOTeacher(backbone, head *vit.Params, bufs Buffers, opt DINOOptions) (*DINOTeacher, error) {
	p := backbone.Preset
	if err := opt.validate(p); err != nil {
		return nil, err
	}
	if err := checkHead(head, opt.Head.layers()); err != nil {
		return nil, err
	}
	st := newStorage(opt.double)
	t := &DINOTeacher{opt: opt, g: gorgonia.NewGraph(), st: st}
	var err error
	if opt.chunked() {
		if t.crops, err = newChunkedCrops(t.g, st, backbone, nil, Globals*opt.Batch, opt.GlobalSize, Globals*opt.Chunk, 0, false); err != nil {
			return nil, err
		}
		t.fwd = t.crops.in
	} else {
		bb, err := newBackbone(t.g, backbone, st)
		if err != nil {
			return nil, err
		}
		if t.fwd, err = bb.Forward(Globals*opt.Batch, opt.GlobalSize, 0); err != nil {
			return nil, err
		}
	}
	hg := newHeadGraph(t.g, st, head, bufs)
	in := t.fwd.CLS
	if opt.IBOT {
		in = t.fwd.Tokens
	}
	g := &builder{}
	if t.cls, t.patch = dinoHead(g, hg, opt.Head, in, opt.IBOT); g.err != nil {
		return nil, g.err
	}
	t.vm = gorgonia.NewTapeMachine(t.g)
	ops.SetTraining(t.g, false) // no dropout; the BatchNorms stay on batch statistics
	return t, nil
}

// dinoHead applies the head's MLP to x and its last layer, and for iBOT
// also the patch last layer (the same node when shared).
func dinoHead(g *builder, hg *headGraph, h DINOHead, x *gorgonia.Node, ibot bool) (cls, patch *gorgonia.Node) {
	m := hg.apply(g, x, h.mlp(), 1)
	lc, lp := h.lastLayers()
	cls = hg.apply(g, m, []layer{lc}, 1)
	switch {
	case !ibot:
		return cls, nil
	case h.PatchOut == 0:
		return cls, cls
	}
	return cls, hg.apply(g, m, []layer{lp}, 1)
}

// Forward runs the teacher on the global crops, [Globals·Batch, 3, S, S]
// crop-major, and returns the head's outputs (logits, before any
// centring or temperature): cls [Globals·Batch, Out] for the class
// tokens and, for iBOT, patch [Globals·Batch·P, PatchOut or Out] for the
// P patch tokens of each crop in grid order (nil for DINO). Both are
// overwritten by the next call.
func (t *DINOTeacher) Forward(globals []float32) (cls, patch []float32, err error) {
	if t.closed {
		return nil, nil, errNetClosed
	}
	if err := t.setImages(globals); err != nil {
		return nil, nil, fmt.Errorf("nn: teacher: %w", err)
	}
	t.vm.Reset()
	if err := t.vm.RunAll(); err != nil {
		return nil, nil, fmt.Errorf("nn: teacher: %w", err)
	}
	n, k := Globals*t.opt.Batch, t.opt.Head.Out
	out := float32s(t.cls.Value())
	if !t.opt.IBOT {
		t.outCLS = append(t.outCLS[:0], out...)
		return t.outCLS, nil, nil
	}
	tokens := t.fwd.T
	t.outCLS = t.outCLS[:0]
	for i := range n {
		t.outCLS = append(t.outCLS, out[i*tokens*k:(i*tokens+1)*k]...)
	}
	kp := t.patch.Shape()[1]
	pv := float32s(t.patch.Value())
	t.outPatch = t.outPatch[:0]
	for i := range n {
		t.outPatch = append(t.outPatch, pv[(i*tokens+1)*kp:(i+1)*tokens*kp]...)
	}
	return t.outCLS, t.outPatch, nil
}

// setImages loads the global crops: into the graph, or through the
// backbone's chunks into the head's input.
func (t *DINOTeacher) setImages(globals []float32) error {
	if t.crops == nil {
		return t.fwd.SetImages(globals)
	}
	if err := t.crops.SetImages(globals, nil); err != nil {
		return err
	}
	return t.crops.features()
}

// Close releases the machines.
func (t *DINOTeacher) Close() {
	if !t.closed {
		t.vm.Close()
		if t.crops != nil {
			t.crops.close()
		}
		t.closed = true
	}
}

// DINOBatch is one batch of a DINO or iBOT student, crop-major (see
// DINOOptions).
type DINOBatch struct {
	Globals []float32 // [Globals·Batch, 3, GlobalSize, GlobalSize]
	Locals  []float32 // [LocalCrops·Batch, 3, LocalSize, LocalSize]
	// Masks marks, for iBOT, the patches of each global crop hidden from
	// the student: [Globals·Batch, P], each crop's grid row-major.
	Masks []bool
}

// DINOTargets are the teacher's distributions for one batch: softmax of
// the centred teacher logits over the teacher temperature, crop-major.
type DINOTargets struct {
	CLS   []float32 // [Globals·Batch, Out]
	Patch []float32 // iBOT: [Globals·Batch·P, patch outputs]
	// Lambda1 and Lambda2 weigh iBOT's class-token and patch losses; DINO
	// takes Lambda1 (1 in DINO) and ignores Lambda2.
	Lambda1, Lambda2 float64
}

// DINOLoss is a step's loss in its two parts; the student minimises their
// sum. Patch is 0 for DINO.
type DINOLoss struct{ CLS, Patch float64 }

// DINOStudent is the student network with its loss and gradients. The loss
// is DINO's: for each global crop q and every other crop v of the same
// image, the cross-entropy of the teacher's distribution for q against the
// student's softmax(logits/StudentTemp) for v, averaged over the images
// and the 2·(V-1) pairs, times Lambda1; iBOT adds, per global crop, the
// cross-entropy of the teacher's patch distributions against the student's
// on the masked patches only, averaged over each crop's masked patches
// (images without any count 0), then over images and the 2 crops, times
// Lambda2.
type DINOStudent struct {
	opt                  DINOOptions
	p                    vit.Preset
	tg                   *trainGraph
	global, local        *Forward
	globalCrops          *chunkedCrops     // micro-batched: the backbone's chunks feeding global
	localCrops           *chunkedCrops     // and local
	mask                 *ops.MaskedTokens // iBOT, in one pass
	ceGlobal, ceLocal    *ops.SoftCE       // iBOT: class tokens in the global and local outputs
	ceCLS                *ops.SoftCE       // DINO: all class tokens
	cePatch              *ops.SoftCE       // iBOT
	termsCLS, termsLocal []ops.SoftTerm    // scratch
	termsPatch           []ops.SoftTerm    // scratch
}

// NewDINOStudent builds the student's training graph. head holds the
// head's parameters and, for iBOT, the mask token (AddMaskToken). The
// graph computes with the parameters' storage; Vars share it.
func NewDINOStudent(backbone, head *vit.Params, bufs Buffers, opt DINOOptions) (*DINOStudent, error) {
	p := backbone.Preset
	if err := opt.validate(p); err != nil {
		return nil, err
	}
	var extra []string
	if opt.IBOT {
		extra = append(extra, MaskTokenName)
	}
	if err := checkHead(head, opt.Head.layers(), extra...); err != nil {
		return nil, err
	}
	s := &DINOStudent{opt: opt, p: p}
	g := gorgonia.NewGraph()
	hg := newHeadGraph(g, newStorage(opt.double), head, bufs)
	if opt.chunked() {
		return s, s.buildChunked(g, backbone, head, hg)
	}
	bb, err := newBackbone(g, backbone, hg.st)
	if err != nil {
		return nil, err
	}
	var embed func(*gorgonia.Node) (*gorgonia.Node, error) // iBOT's mask tokens
	if opt.IBOT {
		embed = func(x *gorgonia.Node) (y *gorgonia.Node, err error) {
			y, s.mask, err = ops.MaskTokens(x, hg.nodes[MaskTokenName])
			return y, err
		}
	}
	if s.global, err = bb.forward(Globals*opt.Batch, opt.GlobalSize, forwardSeed(opt.Seed, 0), embed); err != nil {
		return nil, err
	}
	if opt.LocalCrops > 0 {
		if s.local, err = bb.Forward(opt.LocalCrops*opt.Batch, opt.LocalSize, forwardSeed(opt.Seed, 1)); err != nil {
			return nil, err
		}
	}
	loss, err := s.buildLoss(hg)
	if err != nil {
		return nil, err
	}
	if s.tg, err = newTrainGraph(g, loss, bb, backbone, head, hg, opt.Head.Frozen); err != nil {
		return nil, err
	}
	return s, nil
}

// buildChunked builds the micro-batched student: the crop groups' chunks
// feeding the heads and loss of graph g.
func (s *DINOStudent) buildChunked(g *gorgonia.ExprGraph, backbone, head *vit.Params, hg *headGraph) error {
	o := s.opt
	var token *vit.Param
	if o.IBOT {
		token = head.Get(MaskTokenName)
	}
	var err error
	if s.globalCrops, err = newChunkedCrops(g, hg.st, backbone, token, Globals*o.Batch, o.GlobalSize, Globals*o.Chunk, forwardSeed(o.Seed, 0), true); err != nil {
		return err
	}
	s.global = s.globalCrops.in
	crops := []*chunkedCrops{s.globalCrops}
	if o.LocalCrops > 0 {
		if s.localCrops, err = newChunkedCrops(g, hg.st, backbone, nil, o.LocalCrops*o.Batch, o.LocalSize, o.LocalCrops*o.Chunk, forwardSeed(o.Seed, 1), true); err != nil {
			return err
		}
		s.local = s.localCrops.in
		crops = append(crops, s.localCrops)
	}
	loss, err := s.buildLoss(hg)
	if err != nil {
		return err
	}
	s.tg, err = newTrainGraph(g, loss, nil, backbone, head, hg, o.Head.Frozen, crops...)
	return err
}

// buildLoss adds the head, the loss terms' ops and their sum.
func (s *DINOStudent) buildLoss(hg *headGraph) (*gorgonia.Node, error) {
	g, h, temp := &builder{}, s.opt.Head, s.opt.StudentTemp
	var parts []*gorgonia.Node
	add := func(x *gorgonia.Node) *ops.SoftCE {
		l, op := g.softCrossEntropy(x, temp)
		parts = append(parts, l)
		return op
	}
	if s.opt.IBOT {
		gc, gp := dinoHead(g, hg, h, s.global.Tokens, true)
		s.ceGlobal, s.cePatch = add(gc), add(gp)
		if s.local != nil {
			lc, _ := dinoHead(g, hg, h, s.local.Tokens, false)
			s.ceLocal = add(lc)
		}
	} else {
		cls := s.global.CLS
		if s.local != nil {
			cls = g.do(func() (*gorgonia.Node, error) { return ops.ConcatRows(s.global.CLS, s.local.CLS) })
		}
		out, _ := dinoHead(g, hg, h, cls, false)
		s.ceCLS = add(out)
	}
	loss := parts[0]
	for _, l := range parts[1:] {
		loss = g.do(func() (*gorgonia.Node, error) { return gorgonia.Add(loss, l) })
	}
	return loss, g.err
}

// Vars returns the trainable parameters: the backbone's, then the head's
// (and the mask token), less a last layer's weight_g fixed by
// NormLastLayer. Data is the parameters' storage; Grad is overwritten by
// every TrainStep.
func (s *DINOStudent) Vars() []optim.Var { return append([]optim.Var(nil), s.tg.vars...) }

// Reseed makes the next TrainStep draw the dropout and drop-path masks of
// training step number step (see Classifier.Reseed).
func (s *DINOStudent) Reseed(step uint64) { s.tg.reseed(step) }

// TrainStep runs forward and backward on one batch against the teacher's
// targets, leaves the gradients in the Vars and returns the loss.
func (s *DINOStudent) TrainStep(b DINOBatch, t DINOTargets) (DINOLoss, error) {
	o := s.opt
	B, P := o.Batch, o.patches(s.p)
	if o.IBOT && len(b.Masks) != Globals*B*P {
		return DINOLoss{}, fmt.Errorf("nn: student: %d mask flags, want %d crops x %d patches", len(b.Masks), Globals*B, P)
	}
	if err := s.load(b); err != nil {
		return DINOLoss{}, err
	}
	if err := checkBatch("teacher class-token targets", t.CLS, Globals*B*o.Head.Out); err != nil {
		return DINOLoss{}, err
	}
	crops := Globals + o.LocalCrops
	w1 := t.Lambda1 / float64(2*(crops-1)*B)
	if !o.IBOT {
		s.termsCLS = s.termsCLS[:0]
		for q := range Globals {
			for v := range crops {
				if v == q {
					continue
				}
				for i := range B {
					s.termsCLS = append(s.termsCLS, ops.SoftTerm{Row: v*B + i, Target: q*B + i, Weight: w1})
				}
			}
		}
		if err := s.ceCLS.SetTargets(t.CLS, s.termsCLS); err != nil {
			return DINOLoss{}, err
		}
		if err := s.tg.run(); err != nil {
			return DINOLoss{}, fmt.Errorf("nn: student: %w", err)
		}
		return DINOLoss{CLS: s.ceCLS.Loss()}, nil
	}

	kp := o.Head.Out
	if o.Head.PatchOut > 0 {
		kp = o.Head.PatchOut
	}
	if err := checkBatch("teacher patch targets", t.Patch, Globals*B*P*kp); err != nil {
		return DINOLoss{}, err
	}
	tokens, localTokens := s.global.T, 0
	if s.local != nil {
		localTokens = s.local.T
	}
	s.termsCLS, s.termsLocal, s.termsPatch = s.termsCLS[:0], s.termsLocal[:0], s.termsPatch[:0]
	for q := range Globals {
		for v := range crops {
			for i := range B {
				switch {
				case v == q:
				case v < Globals:
					s.termsCLS = append(s.termsCLS, ops.SoftTerm{Row: (v*B + i) * tokens, Target: q*B + i, Weight: w1})
				default:
					s.termsLocal = append(s.termsLocal, ops.SoftTerm{Row: ((v-Globals)*B + i) * localTokens, Target: q*B + i, Weight: w1})
				}
			}
		}
		for i := range B {
			crop := q*B + i
			m := b.Masks[crop*P : (crop+1)*P]
			count := 0
			for _, hidden := range m {
				if hidden {
					count++
				}
			}
			for j, hidden := range m {
				if hidden {
					w := t.Lambda2 / float64(Globals*B*count)
					s.termsPatch = append(s.termsPatch, ops.SoftTerm{Row: crop*tokens + 1 + j, Target: crop*P + j, Weight: w})
				}
			}
		}
	}
	if err := s.ceGlobal.SetTargets(t.CLS, s.termsCLS); err != nil {
		return DINOLoss{}, err
	}
	if s.ceLocal != nil {
		if err := s.ceLocal.SetTargets(t.CLS, s.termsLocal); err != nil {
			return DINOLoss{}, err
		}
	}
	if err := s.cePatch.SetTargets(t.Patch, s.termsPatch); err != nil {
		return DINOLoss{}, err
	}
	if err := s.tg.run(); err != nil {
		return DINOLoss{}, fmt.Errorf("nn: student: %w", err)
	}
	l := DINOLoss{CLS: s.ceGlobal.Loss(), Patch: s.cePatch.Loss()}
	if s.ceLocal != nil {
		l.CLS += s.ceLocal.Loss()
	}
	return l, nil
}

// load sets the batch's crops and iBOT's masks: into the graph, or into the
// crop groups that run the backbone in chunks.
func (s *DINOStudent) load(b DINOBatch) error {
	if s.globalCrops != nil {
		if err := s.globalCrops.SetImages(b.Globals, b.Masks); err != nil {
			return fmt.Errorf("nn: student globals: %w", err)
		}
		if s.localCrops != nil {
			if err := s.localCrops.SetImages(b.Locals, nil); err != nil {
				return fmt.Errorf("nn: student locals: %w", err)
			}
		}
		return nil
	}
	if err := s.global.SetImages(b.Globals); err != nil {
		return fmt.Errorf("nn: student globals: %w", err)
	}
	if s.local != nil {
		if err := s.local.SetImages(b.Locals); err != nil {
			return fmt.Errorf("nn: student locals: %w", err)
		}
	}
	if s.mask != nil {
		return s.mask.SetMask(b.Masks)
	}
	return nil
}

// Close releases the machines.
func (s *DINOStudent) Close() { s.tg.close() }
