package optim

// SGD is torch.optim.SGD with momentum (dampening 0, no Nesterov):
//
//	d = g + wd*p
//	b = momentum*b + d   (b = d at the first step)
//	p -= lr*b
//
// The buffer starts at zero, which makes the first step's b equal d exactly.
type SGD struct {
	Momentum float64
	DecayAll bool // decay NoDecay parameters too, as the seed did

	vars      []Var
	buf       stateBuffers
	stepCount int
}

// NewSGD returns SGD over vars with the given momentum (0.9 in the seed).
func NewSGD(vars []Var, momentum float64) (*SGD, error) {
	if err := checkVars(vars); err != nil {
		return nil, err
	}
	return &SGD{Momentum: momentum, vars: vars, buf: newStateBuffers(MomentumKey, vars)}, nil
}

// Step applies one update.
func (o *SGD) Step(lr, wd float64) {
	o.stepCount++
	mu, rate := float32(o.Momentum), float32(lr)
	for i, v := range o.vars {
		l2 := float32(decay(v, wd, o.DecayAll))
		b := o.buf.bufs[i]
		forRange(len(v.Data), func(lo, hi int) {
			p, g, b := v.Data[lo:hi], v.Grad[lo:hi], b[lo:hi]
			for j := range p {
				b[j] = mu*b[j] + (g[j] + l2*p[j])
				p[j] -= rate * b[j]
			}
		})
	}
}

// Steps is the number of updates applied.
func (o *SGD) Steps() int { return o.stepCount }

// State returns a copy of the momentum buffers.
func (o *SGD) State() map[string][]float32 { return exportState(o.vars, o.buf) }

// SetState restores the step count and the momentum buffers.
func (o *SGD) SetState(steps int, buffers map[string][]float32) error {
	if err := importState(steps, buffers, o.vars, o.buf); err != nil {
		return err
	}
	o.stepCount = steps
	return nil
}
