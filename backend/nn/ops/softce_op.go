package ops

import (
	"fmt"
	"hash"
	"slices"

	"github.com/chewxy/hm"
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
	loss, err := gorgonia.ApplyOp(op, logits)
	if err != nil {
		return nil, nil, err
	}
	return loss, op, nil
}

// SoftCE is the op behind SoftCrossEntropy.
type SoftCE struct {
	opBase
	rows, k int
	inv     float64 // 1/temperature
	terms   softTerms
	set     bool
	probs   []float64 // softmax of the referenced rows, latest forward
	part    []float64
	loss    float64
	loss32  gorgonia.F32
	loss64  gorgonia.F64
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

func (op *SoftCE) Arity() int { return 1 }
func (op *SoftCE) Type() hm.Type {
	return fnType(tensorType(2), hm.TypeVariable('a'))
}
func (op *SoftCE) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *SoftCE) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

// UsePreallocDo writes the loss into the op's own scalar, as CrossEntropy does.
func (op *SoftCE) UsePreallocDo(_ gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("soft cross-entropy", vals, []string{"logits"}, []int{2})
	if err != nil {
		return nil, err
	}
	logits := ds[0]
	if s := logits.Shape(); s[0] != op.rows || s[1] != op.k {
		return nil, fmt.Errorf("ops: soft cross-entropy: logits %v, built for [%d %d]", s, op.rows, op.k)
	}
	if !op.set {
		return nil, fmt.Errorf("ops: soft cross-entropy: targets not set (SetTargets before running)")
	}
	if dt == tensor.Float32 {
		op.loss = softCEForward(op.probs, op.part, floats[float32](logits), &op.terms, op.k, op.inv)
		op.loss32 = gorgonia.F32(op.loss)
		return &op.loss32, nil
	}
	op.loss = softCEForward(op.probs, op.part, floats[float64](logits), &op.terms, op.k, op.inv)
	op.loss64 = gorgonia.F64(op.loss)
	return &op.loss64, nil
}

func (op *SoftCE) DiffWRT(int) []bool { return []bool{true} }
func (op *SoftCE) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := gorgonia.ApplyOp(&softCEDiffOp{fwd: op}, in[0], output, grad)
	return gorgonia.Nodes{d}, err
}
func (op *SoftCE) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *SoftCE) Hashcode() uint32      { return hashOf(op) }
func (op *SoftCE) String() string        { return "SoftCrossEntropy" }

// softCEDiffOp computes dlogits from inputs (logits, loss, dloss).
type softCEDiffOp struct {
	opBase
	fwd *SoftCE
	d   buffer
}

func (op *softCEDiffOp) Arity() int { return 3 }
func (op *softCEDiffOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(tensorType(2), a, a, tensorType(2))
}
func (op *softCEDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *softCEDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *softCEDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	if len(vals) != 3 {
		return nil, fmt.Errorf("ops: soft cross-entropy dlogits: got %d inputs, want 3", len(vals))
	}
	_, dt, err := inputs("soft cross-entropy dlogits", vals[:1], []string{"logits"}, []int{2})
	if err != nil {
		return nil, err
	}
	g, err := scalar(vals[2])
	if err != nil {
		return nil, fmt.Errorf("ops: soft cross-entropy dlogits: dloss: %w", err)
	}
	f := op.fwd
	if !f.set || len(f.probs) != len(f.terms.rows)*f.k {
		return nil, fmt.Errorf("ops: soft cross-entropy dlogits: no forward probabilities")
	}
	d := op.d.out(prealloc, dt, f.rows, f.k)
	if dt == tensor.Float32 {
		softCEBackward(floats[float32](d), f.probs, &f.terms, f.k, f.inv, g)
	} else {
		softCEBackward(floats[float64](d), f.probs, &f.terms, f.k, f.inv, g)
	}
	return d, nil
}
func (op *softCEDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *softCEDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *softCEDiffOp) String() string        { return "SoftCrossEntropyDlogits(logits, loss, dloss)" }
