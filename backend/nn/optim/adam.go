package optim

import "math"

// Adam is torch.optim.Adam, or torch.optim.AdamW when Decoupled is set, in
// PyTorch's single-tensor form with amsgrad off:
//
//	Adam:  g += wd*p
//	AdamW: p *= 1 - lr*wd
//	m = beta1*m + (1-beta1)*g
//	v = beta2*v + (1-beta2)*g^2
//	p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)
//
// with t the step count from 1. Buffers and updates are float32, the bias
// corrections float64, as PyTorch computes them for float32 parameters.
type Adam struct {
	Beta1, Beta2, Eps float64 // PyTorch's defaults 0.9, 0.999, 1e-8
	Decoupled         bool    // AdamW's decoupled weight decay
	DecayAll          bool    // decay NoDecay parameters too, as the seed did

	vars      []Var
	expAvg    stateBuffers
	expAvgSq  stateBuffers
	stepCount int
}

// NewAdam returns Adam over vars with L2 weight decay added to the gradient.
func NewAdam(vars []Var) (*Adam, error) {
	if err := checkVars(vars); err != nil {
		return nil, err
	}
	return &Adam{Beta1: AdamBeta1, Beta2: AdamBeta2, Eps: AdamEps, vars: vars,
		expAvg: newStateBuffers(ExpAvgKey, vars), expAvgSq: newStateBuffers(ExpAvgSqKey, vars)}, nil
}

// NewAdamW returns AdamW over vars: Adam with decoupled weight decay.
func NewAdamW(vars []Var) (*Adam, error) {
	o, err := NewAdam(vars)
	if err != nil {
		return nil, err
	}
	o.Decoupled = true
	return o, nil
}

// Step applies one Adam or AdamW update.
func (o *Adam) Step(lr, wd float64) {
	o.stepCount++
	t := float64(o.stepCount)
	stepSize := float32(lr / (1 - math.Pow(o.Beta1, t)))
	bc2Sqrt := float32(math.Sqrt(1 - math.Pow(o.Beta2, t)))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1, c2 := float32(1-o.Beta1), float32(1-o.Beta2)
	eps := float32(o.Eps)
	for i, v := range o.vars {
		wdi := decay(v, wd, o.DecayAll)
		l2, keep := float32(0), float32(1)
		if o.Decoupled {
			keep = float32(1 - lr*wdi)
		} else {
			l2 = float32(wdi)
		}
		m, s := o.expAvg.bufs[i], o.expAvgSq.bufs[i]
		forRange(len(v.Data), func(lo, hi int) {
			p := v.Data[lo:hi]
			g, m, s := v.Grad[lo:hi:hi], m[lo:hi:hi], s[lo:hi:hi]
			for j, pj := range p {
				gj := g[j] + l2*pj
				mj := b1*m[j] + c1*gj
				sj := b2*s[j] + c2*gj*gj
				m[j], s[j] = mj, sj
				denom := float32(math.Sqrt(float64(sj)))/bc2Sqrt + eps
				p[j] = pj*keep - stepSize*(mj/denom)
			}
		})
	}
}

// Steps is the number of updates applied.
func (o *Adam) Steps() int { return o.stepCount }

// State returns copies of the exp_avg and exp_avg_sq buffers.
func (o *Adam) State() map[string][]float32 { return exportState(o.vars, o.expAvg, o.expAvgSq) }

// SetState restores the step count and the exp_avg and exp_avg_sq buffers.
func (o *Adam) SetState(steps int, buffers map[string][]float32) error {
	if err := importState(steps, buffers, o.vars, o.expAvg, o.expAvgSq); err != nil {
		return err
	}
	o.stepCount = steps
	return nil
}
