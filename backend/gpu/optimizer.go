package gpu

import (
	"fmt"
	"math"
	"strings"

	"github.com/sslens/sslens/backend/nn/optim"
)

// Optimizer is optim.New's Adam, AdamW or SGD stepping on the device over
// a Classifier's trainable parameters, with torch's gradient-norm clipping
// folded in: the same float32 updates and the same state keys as the host
// optimisers, so checkpoints move between engines. It implements
// optim.Optimizer; Classifier.NewOptimizer makes it.
type Optimizer struct {
	c        *Classifier
	kind     string // adam, adamw or sgd
	lo, n    int    // the trainable values' range in the parameters' allocation
	decay    Ptr    // [n]: 1 where weight decay applies, 0 where not
	b1, b2   Ptr    // [n]: exp_avg and exp_avg_sq, or the momentum buffer (b1)
	sumSq    Ptr    // one double: Σg² for clipping
	partial  Ptr    // a double per block of the sum
	clip     float64
	steps    int
	prefixes []string // the state keys' prefixes, b1's first
}

// NewOptimizer returns the optimiser name (Adam, AdamW or SGD; decayAll
// decays NoDecay parameters too) stepping on the device, clipping the
// gradient's global norm to clip when clip > 0. From then on the
// parameters live on the device: TrainStep neither copies them there nor
// the gradients back, and the Vars' Data are current only after
// PullParams.
func (c *Classifier) NewOptimizer(name string, decayAll bool, clip float64) (optim.Optimizer, error) {
	o := &Optimizer{c: c, kind: strings.ToLower(name), clip: clip}
	switch o.kind {
	case "adam", "adamw":
		o.prefixes = []string{optim.ExpAvgKey, optim.ExpAvgSqKey}
	case "sgd":
		o.prefixes = []string{optim.MomentumKey}
	default:
		return nil, fmt.Errorf("gpu: unknown optimiser %q; want Adam, AdamW or SGD", name)
	}
	// The trainable parameters are a run of the allocation: all of them,
	// or the head's (the last tensors) with a frozen backbone.
	m := c.m
	o.lo = int(m.param[c.vars[0].Name]-m.all) / 4
	decay := make([]float32, 0, m.host.NumElements()-o.lo)
	for _, v := range c.vars {
		if int(m.param[v.Name]-m.all)/4 != o.lo+len(decay) {
			return nil, fmt.Errorf("gpu: optimiser: trainable parameter %s does not follow the one before it", v.Name)
		}
		d := float32(1)
		if v.NoDecay && !decayAll {
			d = 0
		}
		for range v.Data {
			decay = append(decay, d)
		}
	}
	o.n = len(decay)
	var err error
	for _, b := range []struct {
		ptr *Ptr
		n   int
	}{{&o.decay, o.n}, {&o.b1, o.n}, {&o.b2, o.n}, {&o.sumSq, 2}, {&o.partial, 2 * m.dev.GridStride()}} {
		if *b.ptr, err = m.mem.alloc("optimiser", b.n); err != nil {
			return nil, err
		}
	}
	if err := m.dev.Upload(o.decay, decay); err != nil {
		return nil, err
	}
	for _, b := range []Ptr{o.b1, o.b2} {
		if err := m.k.fill(b, o.n, 0); err != nil {
			return nil, err
		}
	}
	c.resident = true
	return o, nil
}

// Step applies one update with learning rate lr and weight decay wd.
func (o *Optimizer) Step(lr, wd float64) {
	if err := o.step(lr, wd); err != nil {
		// optim.Optimizer's Step returns nothing: the next TrainStep,
		// whose first device call reports the device's error, fails.
		o.c.err = fmt.Errorf("gpu: optimiser step %d: %w", o.steps, err)
	}
}

func (o *Optimizer) step(lr, wd float64) error {
	o.steps++
	m := o.c.m
	p, g := m.all.At(o.lo), m.gradBase().At(o.lo)
	var sumSq Ptr
	if o.clip > 0 {
		sumSq = o.sumSq
		if err := m.k.sumSquares(sumSq, o.partial, g, o.n); err != nil {
			return err
		}
	}
	if o.kind == "sgd" {
		return m.k.sgdStep(sgdStepArgs{p: p, b: o.b1, g: g, decay: o.decay, sumSq: sumSq, n: int64(o.n),
			lr: float32(lr), wd: float32(wd), momentum: optim.SGDMomentum, clip: float32(o.clip)})
	}
	t := float64(o.steps)
	a := adamStepArgs{p: p, m: o.b1, v: o.b2, g: g, decay: o.decay, sumSq: sumSq, n: int64(o.n),
		lr: float32(lr), wd: float32(wd), beta1: optim.AdamBeta1, beta2: optim.AdamBeta2,
		c1: float32(1 - optim.AdamBeta1), c2: float32(1 - optim.AdamBeta2), eps: optim.AdamEps,
		stepSize: float32(lr / (1 - math.Pow(optim.AdamBeta1, t))), bc2Sqrt: float32(math.Sqrt(1 - math.Pow(optim.AdamBeta2, t))),
		clip: float32(o.clip)}
	if o.kind == "adamw" {
		a.decoupled = 1
	}
	return m.k.adamStep(a)
}

// Steps is the number of updates applied.
func (o *Optimizer) Steps() int { return o.steps }

// buffers are the device buffers behind o.prefixes, in order.
func (o *Optimizer) buffers() []Ptr { return []Ptr{o.b1, o.b2}[:len(o.prefixes)] }

// State returns copies of the buffers under the host optimisers' keys;
// nil when the device cannot be read.
func (o *Optimizer) State() map[string][]float32 {
	out := make(map[string][]float32, len(o.prefixes)*len(o.c.vars))
	for i, b := range o.buffers() {
		off := 0
		for _, v := range o.c.vars {
			buf := make([]float32, len(v.Data))
			if err := o.c.m.dev.Download(buf, b.At(off)); err != nil {
				o.c.err = fmt.Errorf("gpu: optimiser state: %w", err)
				return nil
			}
			out[o.prefixes[i]+v.Name] = buf
			off += len(v.Data)
		}
	}
	return out
}

// SetState restores the step count and buffers State returned, checked as
// the host optimisers check them; on error nothing changes.
func (o *Optimizer) SetState(steps int, buffers map[string][]float32) error {
	if err := optim.CheckState(steps, buffers, o.c.vars, o.prefixes...); err != nil {
		return err
	}
	for i, b := range o.buffers() {
		off := 0
		for _, v := range o.c.vars {
			if err := o.c.m.dev.Upload(b.At(off), buffers[o.prefixes[i]+v.Name]); err != nil {
				return fmt.Errorf("gpu: optimiser state: %w", err)
			}
			off += len(v.Data)
		}
	}
	o.steps = steps
	return nil
}

// PullParams copies the parameters from the device into the host
// vit.Params (the Vars' Data): before a checkpoint is written from them.
func (c *Classifier) PullParams() error {
	all := make([]float32, c.m.host.NumElements())
	if err := c.m.dev.Download(all, c.m.all); err != nil {
		return fmt.Errorf("gpu: parameters: %w", err)
	}
	off := 0
	for _, p := range c.m.host.List() {
		off += copy(p.Data, all[off:off+len(p.Data)])
	}
	return nil
}

// PushParams copies the host parameters to the device: after they were
// set on the host (another epoch's weights to evaluate).
func (c *Classifier) PushParams() error { return c.m.Upload() }
