package nn

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Options configure a Classifier.
type Options struct {
	// Batch is the largest batch one machine runs: TrainStep splits larger
	// batches, Predict and Features cut their input into Batch images.
	Batch int
	// Seed seeds attention dropout and drop path.
	Seed uint64
	// FreezeBackbone trains the head alone. The backbone then runs in
	// evaluation mode (no dropout or drop path) and computes no gradients,
	// as DINO's linear evaluation does.
	FreezeBackbone bool
	// double computes in float64 on copies of the parameters (see
	// storage): the exactness checks of micro-batching.
	double bool
}

// lensClass is the head output of the lens class.
const lensClass = 1

// Classifier is a ViT backbone with a linear two-class head on its class
// token. Its parameters are the vit.Params it was built from, shared: the
// optimiser updating them is what the next step computes with. It is not
// safe for concurrent use.
type Classifier struct {
	ps    *vit.Params
	opt   Options
	vars  []optim.Var
	grads gradBuffers // the vars' gradients
	st    *storage
	train map[int]*machine // by batch size
	eval  *machine         // batch opt.Batch
	// step numbers the training steps; their dropout draws derive from it
	// (see Reseed).
	step uint64
	// closed is set by Close; every later call fails.
	closed bool
}

// machine is one compiled graph.
type machine struct {
	g      *gorgonia.ExprGraph
	vm     gorgonia.VM
	fwd    *Forward
	logits *gorgonia.Node    // [N, 2]
	loss   *gorgonia.Node    // training only
	ce     *ops.CrossEntropy // training only
	grads  gorgonia.Nodes    // training only, one per Classifier var
}

// NewClassifier returns a classifier computing with ps, which must hold a
// backbone and a two-class head (ps.NumClasses == 2, as vit.New(p, 2, rng)
// builds). Machines are compiled on first use.
func NewClassifier(ps *vit.Params, opt Options) (*Classifier, error) {
	if ps.NumClasses != 2 {
		return nil, fmt.Errorf("nn: classifier: parameter set has %d classes, want 2 (non-lens, lens)", ps.NumClasses)
	}
	if opt.Batch <= 0 {
		return nil, fmt.Errorf("nn: classifier: batch size %d, want > 0", opt.Batch)
	}
	if err := ps.Preset.Validate(); err != nil {
		return nil, fmt.Errorf("nn: classifier: %w", err)
	}
	d := ps.Preset.Dim
	for name, n := range map[string]int{"head.weight": 2 * d, "head.bias": 2} {
		if p := ps.Get(name); p == nil || len(p.Data) != n {
			return nil, fmt.Errorf("nn: classifier: parameter set has no %s of %d values", name, n)
		}
	}
	c := &Classifier{ps: ps, opt: opt, st: newStorage(opt.double), train: make(map[int]*machine)}
	for _, p := range ps.List() {
		if opt.FreezeBackbone && p.Name != "head.weight" && p.Name != "head.bias" {
			continue
		}
		c.vars = append(c.vars, optim.Var{Name: p.Name, Data: p.Data, Grad: make([]float32, len(p.Data)), NoDecay: p.NoDecay})
	}
	c.grads = newGradBuffers(c.vars, opt.double)
	return c, nil
}

// Vars returns the trainable parameters, in the order of the vit.Params:
// all of them, or the head's alone with FreezeBackbone. Data is the
// parameter's storage; Grad is the classifier's own buffer, the same on
// every call, which each TrainStep overwrites with that step's gradient.
func (c *Classifier) Vars() []optim.Var { return append([]optim.Var(nil), c.vars...) }

var errClosed = errors.New("nn: classifier is closed")

// imageLen is the number of values of one input image.
func (c *Classifier) imageLen() int {
	p := c.ps.Preset
	return p.InChans * p.ImageSize * p.ImageSize
}

// TrainStep runs forward and backward in training mode on len(labels)
// images (flat N x C x S x S, S the preset's ImageSize) with labels 0
// (non-lens) or 1 (lens). It leaves the gradient of the mean cross-entropy
// in the Vars' Grad buffers and returns the loss and each image's P(lens).
// A batch larger than Options.Batch runs in chunks whose gradients are
// combined, weighted by chunk size: the same step as one pass over the
// batch (each image keeps its dropout and drop-path masks) in less memory.
func (c *Classifier) TrainStep(images []float32, labels []int) (loss float64, lensProb []float64, err error) {
	if c.closed {
		return 0, nil, errClosed
	}
	n, per := len(labels), c.imageLen()
	if n == 0 || len(images) != n*per {
		return 0, nil, fmt.Errorf("nn: train step: %d image values for %d labels, want %d per image", len(images), n, per)
	}
	lensProb = make([]float64, 0, n)
	defer func() { c.step++ }()
	for lo := 0; lo < n; lo += c.opt.Batch {
		hi := min(lo+c.opt.Batch, n)
		m, err := c.trainMachine(hi - lo)
		if err != nil {
			return 0, nil, err
		}
		ops.Reseed(m.g, c.step)
		ops.FirstSample(m.g, lo)
		if err := m.ce.SetLabels(labels[lo:hi]); err != nil {
			return 0, nil, fmt.Errorf("nn: train step: %w", err)
		}
		if err := m.run(images[lo*per : hi*per]); err != nil {
			return 0, nil, fmt.Errorf("nn: train step: %w", err)
		}
		w := float64(hi-lo) / float64(n)
		l, err := ops.Scalar(m.loss.Value())
		if err != nil {
			return 0, nil, err
		}
		loss += w * l
		probs := float32s(m.ce.Probs())
		for i := range hi - lo {
			lensProb = append(lensProb, float64(probs[2*i+lensClass]))
		}
		for i := range c.vars {
			if err := c.grads.add(i, m.grads[i].Value(), w, lo == 0); err != nil {
				return 0, nil, fmt.Errorf("nn: train step: %w", err)
			}
		}
	}
	return loss, lensProb, nil
}

// Reseed numbers the next training step: its dropout and drop-path masks
// are those of step number step of any classifier with the same seed, so a
// resumed run reproduces an uninterrupted one. Steps count on from there.
func (c *Classifier) Reseed(step uint64) { c.step = step }

// Predict returns each image's P(lens), in evaluation mode.
func (c *Classifier) Predict(images []float32) ([]float64, error) {
	out := make([]float64, 0, len(images)/max(1, c.imageLen()))
	err := c.evaluate(images, func(m *machine, k int) {
		logits := float32s(m.logits.Value())
		for i := range k {
			l0, l1 := float64(logits[2*i]), float64(logits[2*i+1])
			out = append(out, 1/(1+math.Exp(l0-l1))) // softmax over two classes
		}
	})
	return out, err
}

// Features returns each image's class token after the final norm (Dim
// values), in evaluation mode.
func (c *Classifier) Features(images []float32) ([][]float32, error) {
	d := c.ps.Preset.Dim
	out := make([][]float32, 0, len(images)/max(1, c.imageLen()))
	err := c.evaluate(images, func(m *machine, k int) {
		cls := float32s(m.fwd.CLS.Value())
		for i := range k {
			out = append(out, append([]float32(nil), cls[i*d:(i+1)*d]...))
		}
	})
	return out, err
}

// evaluate runs the evaluation machine over images in chunks of
// Options.Batch, zero-padding the last, and calls read with the number of
// real images in each.
func (c *Classifier) evaluate(images []float32, read func(m *machine, k int)) error {
	if c.closed {
		return errClosed
	}
	per := c.imageLen()
	if len(images)%per != 0 {
		return fmt.Errorf("nn: evaluate: %d image values are not whole images of %d", len(images), per)
	}
	if c.eval == nil {
		m, err := c.build(c.opt.Batch, false)
		if err != nil {
			return err
		}
		c.eval = m
	}
	m, n, b := c.eval, len(images)/per, c.opt.Batch
	var padded []float32
	for lo := 0; lo < n; lo += b {
		hi := min(lo+b, n)
		chunk := images[lo*per : hi*per]
		if hi-lo < b {
			padded = make([]float32, b*per)
			copy(padded, chunk)
			chunk = padded
		}
		if err := m.run(chunk); err != nil {
			return fmt.Errorf("nn: evaluate: %w", err)
		}
		read(m, hi-lo)
	}
	return nil
}

// trainMachine returns the training machine for batch size n.
func (c *Classifier) trainMachine(n int) (*machine, error) {
	if m := c.train[n]; m != nil {
		return m, nil
	}
	m, err := c.build(n, true)
	if err != nil {
		return nil, err
	}
	c.train[n] = m
	return m, nil
}

// build compiles the classifier for batch n: forward only in evaluation
// mode, or forward, loss and the gradients of the Vars for training.
func (c *Classifier) build(n int, train bool) (*machine, error) {
	g := gorgonia.NewGraph()
	bb, err := newBackbone(g, c.ps, c.st)
	if err != nil {
		return nil, err
	}
	// Every machine draws the same masks for an image at the same place in
	// a step's batch, so the chunking changes nothing but memory.
	m := &machine{g: g}
	if m.fwd, err = bb.Forward(n, c.ps.Preset.ImageSize, forwardSeed(c.opt.Seed, 0)); err != nil {
		return nil, err
	}
	b := &builder{}
	m.logits = b.linear(m.fwd.CLS, bb.Node("head.weight"), bb.Node("head.bias"))
	if train {
		m.loss, m.ce = b.crossEntropy(m.logits)
	}
	if b.err != nil {
		return nil, b.err
	}
	if !train {
		m.vm = gorgonia.NewTapeMachine(g, gorgonia.EvalMode())
		return m, nil
	}
	wrt := make(gorgonia.Nodes, len(c.vars))
	for i, v := range c.vars {
		wrt[i] = bb.Node(v.Name)
	}
	if m.grads, err = gorgonia.Grad(m.loss, wrt...); err != nil {
		return nil, fmt.Errorf("nn: classifier gradients: %w", err)
	}
	m.vm = gorgonia.NewTapeMachine(g)
	if c.opt.FreezeBackbone {
		ops.SetTraining(g, false)
	}
	return m, nil
}

// run loads images into the machine's input and runs it once.
func (m *machine) run(images []float32) error {
	if err := m.fwd.SetImages(images); err != nil {
		return err
	}
	m.vm.Reset()
	return m.vm.RunAll()
}

// Close releases the machines; the classifier cannot be used afterwards.
// The parameters stay with the vit.Params.
func (c *Classifier) Close() {
	for _, m := range c.train {
		m.vm.Close()
	}
	if c.eval != nil {
		c.eval.vm.Close()
	}
	c.train, c.eval, c.closed = nil, nil, true
}
