// Package optim updates named float32 parameter buffers from their gradient
// buffers with PyTorch's Adam, AdamW and SGD (momentum) algorithms, clips
// gradients by their global norm and builds DINO's cosine schedules.
//
// Buffers are flat and row-major; an optimiser never reallocates them, so a
// graph may share them. The learning rate and weight decay come with every
// Step, from schedules precomputed per iteration (Cosine). Weight decay
// skips parameters marked NoDecay unless DecayAll is set, the seed's
// behaviour. Moment buffers are exported by name for checkpoints, under
// PyTorch's state keys: "exp_avg.<param>", "exp_avg_sq.<param>",
// "momentum_buffer.<param>".
package optim

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/sslens/sslens/backend/nn/vit"
)

// Var is one parameter and its gradient, of equal length. Step updates Data
// in place and reads Grad; only ClipGradNorm writes Grad.
type Var struct {
	Name    string
	Data    []float32
	Grad    []float32
	NoDecay bool
}

// FromParams returns a Var per parameter of ps, in order, sharing the
// parameters' storage and with new zeroed gradient buffers.
func FromParams(ps *vit.Params) []Var {
	vars := make([]Var, 0, ps.Len())
	for _, p := range ps.List() {
		vars = append(vars, Var{Name: p.Name, Data: p.Data, Grad: make([]float32, len(p.Data)), NoDecay: p.NoDecay})
	}
	return vars
}

// Optimizer is what a training loop drives and a checkpoint saves.
type Optimizer interface {
	// Step applies one update with learning rate lr and weight decay wd.
	Step(lr, wd float64)
	// Steps is the number of updates applied so far (bias correction uses it).
	Steps() int
	// State returns a copy of the optimiser's buffers by state key.
	State() map[string][]float32
	// SetState restores the step count and buffers State returned.
	SetState(steps int, buffers map[string][]float32) error
}

// PyTorch's defaults for Adam and AdamW, and the seed's SimSiam momentum.
const (
	AdamBeta1   = 0.9
	AdamBeta2   = 0.999
	AdamEps     = 1e-8
	SGDMomentum = 0.9
)

// New returns the optimiser a config names: "Adam", "AdamW" or "SGD"
// (case-insensitive; SGD gets momentum SGDMomentum, the seed's SimSiam
// setting), with PyTorch's default betas and eps.
func New(name string, vars []Var, decayAll bool) (Optimizer, error) {
	switch strings.ToLower(name) {
	case "adam":
		o, err := NewAdam(vars)
		if err != nil {
			return nil, err
		}
		o.DecayAll = decayAll
		return o, nil
	case "adamw":
		o, err := NewAdamW(vars)
		if err != nil {
			return nil, err
		}
		o.DecayAll = decayAll
		return o, nil
	case "sgd":
		o, err := NewSGD(vars, SGDMomentum)
		if err != nil {
			return nil, err
		}
		o.DecayAll = decayAll
		return o, nil
	}
	return nil, fmt.Errorf("optim: unknown optimiser %q; want Adam, AdamW or SGD", name)
}

// checkVars refuses empty or repeated names and gradients of the wrong length.
func checkVars(vars []Var) error {
	seen := make(map[string]bool, len(vars))
	for _, v := range vars {
		switch {
		case v.Name == "":
			return fmt.Errorf("optim: parameter with an empty name")
		case seen[v.Name]:
			return fmt.Errorf("optim: parameter %q given twice", v.Name)
		case len(v.Grad) != len(v.Data):
			return fmt.Errorf("optim: parameter %q has %d values but a gradient of %d", v.Name, len(v.Data), len(v.Grad))
		}
		seen[v.Name] = true
	}
	return nil
}

// decay is the weight decay v gets under a step's wd.
func decay(v Var, wd float64, decayAll bool) float64 {
	if v.NoDecay && !decayAll {
		return 0
	}
	return wd
}

// parallelMin is the tensor length from which an update is split across two
// goroutines; below it the goroutine costs more than it saves.
const parallelMin = 1 << 15

// forRange calls f over [0, n), in two concurrent halves for large n. The
// updates are elementwise, so the split does not change the result.
func forRange(n int, f func(lo, hi int)) {
	if n < parallelMin {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	mid := n / 2
	wg.Go(func() { f(mid, n) })
	f(0, mid)
	wg.Wait()
}

// stateBuffers is a named set of per-parameter buffers, one per Var, under
// the keys prefix+name.
type stateBuffers struct {
	prefix string
	bufs   [][]float32
}

func newStateBuffers(prefix string, vars []Var) stateBuffers {
	s := stateBuffers{prefix: prefix, bufs: make([][]float32, len(vars))}
	for i, v := range vars {
		s.bufs[i] = make([]float32, len(v.Data))
	}
	return s
}

// exportState copies every buffer set into one map.
func exportState(vars []Var, sets ...stateBuffers) map[string][]float32 {
	out := make(map[string][]float32, len(vars)*len(sets))
	for _, s := range sets {
		for i, v := range vars {
			out[s.prefix+v.Name] = append([]float32(nil), s.bufs[i]...)
		}
	}
	return out
}

// State key prefixes: optimisers store a parameter's buffer under
// prefix+name, PyTorch's state keys.
const (
	ExpAvgKey   = "exp_avg."
	ExpAvgSqKey = "exp_avg_sq."
	MomentumKey = "momentum_buffer."
)

// CheckState reports whether buffers holds exactly one buffer per prefix
// and var, each of the var's length, and a step count that is not
// negative: what SetState accepts.
func CheckState(steps int, buffers map[string][]float32, vars []Var, prefixes ...string) error {
	if steps < 0 {
		return fmt.Errorf("optim: state: step count %d is negative", steps)
	}
	expected := make(map[string]bool, len(vars)*len(prefixes))
	for _, prefix := range prefixes {
		for _, v := range vars {
			key := prefix + v.Name
			b, ok := buffers[key]
			if !ok {
				return fmt.Errorf("optim: state: no buffer %s", key)
			}
			if len(b) != len(v.Data) {
				return fmt.Errorf("optim: state: buffer %s has %d values, parameter has %d", key, len(b), len(v.Data))
			}
			expected[key] = true
		}
	}
	var extra []string
	for key := range buffers {
		if !expected[key] {
			extra = append(extra, key)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("optim: state: %d unexpected buffers, first %s (another optimiser's or model's state?)", len(extra), extra[0])
	}
	return nil
}

// importState checks buffers with CheckState, then copies them into the
// sets; on error nothing is changed.
func importState(steps int, buffers map[string][]float32, vars []Var, sets ...stateBuffers) error {
	prefixes := make([]string, len(sets))
	for i, s := range sets {
		prefixes[i] = s.prefix
	}
	if err := CheckState(steps, buffers, vars, prefixes...); err != nil {
		return err
	}
	for _, s := range sets {
		for i, v := range vars {
			copy(s.bufs[i], buffers[s.prefix+v.Name])
		}
	}
	return nil
}

// ClipGradNorm scales all gradients by maxNorm/(norm+1e-6) when that is
// below 1, as torch.nn.utils.clip_grad_norm_, and returns the global L2 norm
// of the gradients before clipping (summed in float64). maxNorm <= 0 only
// measures. DINO's clip_gradients clips each tensor by its own norm instead.
func ClipGradNorm(vars []Var, maxNorm float64) float64 {
	sum := 0.0
	for _, v := range vars {
		for _, g := range v.Grad {
			sum += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(sum)
	if maxNorm <= 0 {
		return norm
	}
	coef := maxNorm / (norm + 1e-6)
	if coef >= 1 {
		return norm
	}
	c := float32(coef)
	for _, v := range vars {
		forRange(len(v.Grad), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				v.Grad[i] *= c
			}
		})
	}
	return norm
}
