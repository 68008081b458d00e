package ops

import (
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftCrossEntropy returns the scalar Σ_t w_t·Σ_k -T[t,k]·log softmax(x[r_t]/temp)_k
// over the terms set with SoftCE.SetTargets: the student side of DINO's and
// iBOT's losses, whose teacher distributions T are data (no gradient flows
// to the teacher). logits is [R, K]; rows no term names get zero gradient.
// The gradient w.r.t. row r is g/temp·(W_r·softmax(x[r]/temp) - C_r), W and
// C the term weights and weighted targets summed per row.
func SoftCrossEntropy(logits *gorgonia.Node, temp float64) (*gorgonia.Node, *SoftCE, error) {
	s := logits.Shape()
	if s.Dims() != 2 {
		return nil, nil, fmt.Errorf("ops: soft cross-entropy: logits %v must be a matrix [R, K]", s)
	}
	if !(temp > 0) {
		return nil, nil, fmt.Errorf("ops: soft cross-entropy: temperature %g must be positive", temp)
	}
	op := &SoftCE{rows: s[0], k: s[1], inv: 1 / temp}
	op.spec = spec{
		name: "soft cross-entropy", params: fmt.Sprintf("temp=%g", temp), in: []arg{{"logits", 2}}, out: scalarArg,
		shape:  builtFor(s),
		kernel: bind(op, softCEDo[float32], softCEDo[float64]),
	}
	loss, err := apply(op, logits)
	if err != nil {
		return nil, nil, err
	}
	return loss, op, nil
}

// builtFor is the shape function of a loss over logits of shape s alone.
func builtFor(s tensor.Shape) func([]tensor.Shape) (tensor.Shape, error) {
	return func(in []tensor.Shape) (tensor.Shape, error) {
		if !slices.Equal(in[0], s) {
			return nil, fmt.Errorf("logits %v, built for %v", in[0], s)
		}
		return tensor.ScalarShape(), nil
	}
}

// SoftCE is the op behind SoftCrossEntropy.
type SoftCE struct {
	fused
	rows, k int
	inv     float64 // 1/temperature
	terms   softTerms
	set     bool
	probs   []float64 // softmax of the referenced rows, latest forward
	part    []float64
	loss    float64
}

// SetTargets sets the terms of the next runs: targets is [M, K] row-major
// (M target distributions), each term names a logits row, a target row and
// a weight. Both are folded into per-row sums at once; neither is kept.
func (op *SoftCE) SetTargets(targets []float32, terms []SoftTerm) error {
	if err := op.terms.fold(targets, op.k, op.rows, terms); err != nil {
		op.set = false
		return fmt.Errorf("ops: soft cross-entropy: %w", err)
	}
	n := len(op.terms.rows)
	op.probs = slices.Grow(op.probs[:0], n*op.k)[:n*op.k]
	op.part = slices.Grow(op.part[:0], n)[:n]
	op.set = true
	return nil
}

// Loss returns the loss of the latest forward, in float64.
func (op *SoftCE) Loss() float64 { return op.loss }

func softCEDo[T Float](op *SoftCE, c *call[T]) error {
	if !op.set {
		return fmt.Errorf("targets not set (SetTargets before running)")
	}
	op.loss = softCEForward(op.probs, op.part, c.in[0], &op.terms, op.k, op.inv)
	c.loss = op.loss
	return nil
}

func (op *SoftCE) DiffWRT(int) []bool { return []bool{true} }

// SymDiff builds dlogits from (logits, loss, dloss).
func (op *SoftCE) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := apply(newOp(spec{
		name: "soft cross-entropy dlogits", in: []arg{{"logits", 2}, {"loss", scalarArg}, {"dloss", scalarArg}}, out: 2,
		kernel: bind(op, softCEDiffDo[float32], softCEDiffDo[float64]),
	}), in[0], output, grad)
	return gorgonia.Nodes{d}, err
}

func softCEDiffDo[T Float](op *SoftCE, c *call[T]) error {
	if !op.set || len(op.probs) != len(op.terms.rows)*op.k || len(c.out) != op.rows*op.k {
		return fmt.Errorf("no forward probabilities")
	}
	softCEBackward(c.out, op.probs, &op.terms, op.k, op.inv, c.grad)
	return nil
}
