package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy returns the mean softmax cross-entropy of logits[N,C]
// against integer labels, a scalar node, and the op that takes each batch's
// labels (SetLabels, before running the graph) and keeps the batch's softmax
// probabilities (Probs). The gradient w.r.t. the logits is
// (softmax - onehot)/N times the incoming gradient.
func SoftmaxCrossEntropy(logits *gorgonia.Node) (*gorgonia.Node, *CrossEntropy, error) {
	s := logits.Shape()
	if s.Dims() != 2 {
		return nil, nil, fmt.Errorf("ops: cross-entropy: logits %v must be a matrix [N, C]", s)
	}
	op := &CrossEntropy{n: s[0], c: s[1]}
	loss, err := gorgonia.ApplyOp(op, logits)
	if err != nil {
		return nil, nil, err
	}
	return loss, op, nil
}

// CrossEntropy is the op behind SoftmaxCrossEntropy.
type CrossEntropy struct {
	opBase
	n, c   int   // the logits' shape
	labels []int // this batch's labels, copied by SetLabels
	probs  buffer
	loss32 gorgonia.F32 // the output values, reused
	loss64 gorgonia.F64
}

// SetLabels sets the class, in [0, C), of each of the N rows for the next
// runs. The labels are copied.
func (op *CrossEntropy) SetLabels(labels []int) error {
	if len(labels) != op.n {
		return fmt.Errorf("ops: cross-entropy: %d labels for %d rows", len(labels), op.n)
	}
	for i, l := range labels {
		if l < 0 || l >= op.c {
			return fmt.Errorf("ops: cross-entropy: label %d of row %d outside [0, %d)", l, i, op.c)
		}
	}
	op.labels = append(op.labels[:0], labels...)
	return nil
}

// Probs returns the softmax probabilities [N, C] of the latest forward, or
// nil before the first. The tensor is reused by the next run.
func (op *CrossEntropy) Probs() *tensor.Dense { return op.probs.d }

func (op *CrossEntropy) Arity() int { return 1 }
func (op *CrossEntropy) Type() hm.Type {
	return fnType(tensorType(2), hm.TypeVariable('a'))
}
func (op *CrossEntropy) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *CrossEntropy) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

// UsePreallocDo writes the loss into the op's own scalar: Gorgonia hands
// scalars over by pointer, so reusing one avoids an allocation per step.
func (op *CrossEntropy) UsePreallocDo(_ gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("cross-entropy", vals, []string{"logits"}, []int{2})
	if err != nil {
		return nil, err
	}
	logits := ds[0]
	n, c := logits.Shape()[0], logits.Shape()[1]
	if n != op.n || c != op.c {
		return nil, fmt.Errorf("ops: cross-entropy: logits %v, built for [%d %d]", logits.Shape(), op.n, op.c)
	}
	if len(op.labels) != n {
		return nil, fmt.Errorf("ops: cross-entropy: labels not set (SetLabels before running)")
	}
	probs := op.probs.get(dt, n, c)
	if dt == tensor.Float32 {
		op.loss32 = gorgonia.F32(crossEntropyForward(floats[float32](probs), floats[float32](logits), op.labels, n, c))
		return &op.loss32, nil
	}
	op.loss64 = gorgonia.F64(crossEntropyForward(floats[float64](probs), floats[float64](logits), op.labels, n, c))
	return &op.loss64, nil
}

func (op *CrossEntropy) DiffWRT(n int) []bool { return []bool{true} }
func (op *CrossEntropy) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := gorgonia.ApplyOp(&crossEntropyDiffOp{fwd: op}, in[0], output, grad)
	return gorgonia.Nodes{d}, err
}
func (op *CrossEntropy) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *CrossEntropy) Hashcode() uint32      { return hashOf(op) }
func (op *CrossEntropy) String() string        { return "SoftmaxCrossEntropy" }

// crossEntropyDiffOp computes dlogits from inputs (logits, loss, dloss).
type crossEntropyDiffOp struct {
	opBase
	fwd *CrossEntropy
	d   buffer
}

func (op *crossEntropyDiffOp) Arity() int { return 3 }
func (op *crossEntropyDiffOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(tensorType(2), a, a, tensorType(2))
}
func (op *crossEntropyDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *crossEntropyDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *crossEntropyDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	if len(vals) != 3 {
		return nil, fmt.Errorf("ops: cross-entropy dlogits: got %d inputs, want 3", len(vals))
	}
	ds, dt, err := inputs("cross-entropy dlogits", vals[:1], []string{"logits"}, []int{2})
	if err != nil {
		return nil, err
	}
	g, err := scalar(vals[2])
	if err != nil {
		return nil, fmt.Errorf("ops: cross-entropy dlogits: dloss: %w", err)
	}
	f := op.fwd
	probs := f.probs.d
	if probs == nil || probs.Dtype() != dt || !probs.Shape().Eq(ds[0].Shape()) {
		return nil, fmt.Errorf("ops: cross-entropy dlogits: no forward probabilities for logits %v %v", ds[0].Shape(), dt)
	}
	d := op.d.out(prealloc, dt, f.n, f.c)
	if dt == tensor.Float32 {
		crossEntropyBackward(floats[float32](d), floats[float32](probs), f.labels, f.n, f.c, float32(g))
	} else {
		crossEntropyBackward(floats[float64](d), floats[float64](probs), f.labels, f.n, f.c, g)
	}
	return d, nil
}
func (op *crossEntropyDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *crossEntropyDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *crossEntropyDiffOp) String() string {
	return "SoftmaxCrossEntropyDlogits(logits, loss, dloss)"
}

// scalar reads a float scalar value: Gorgonia's F32 or F64, or a tensor of
// one element.
func scalar(v gorgonia.Value) (float64, error) {
	switch s := v.(type) {
	case *gorgonia.F32:
		return float64(*s), nil
	case *gorgonia.F64:
		return float64(*s), nil
	case *tensor.Dense:
		if s.Shape().TotalSize() == 1 && !s.IsMaterializable() {
			switch s.Dtype() {
			case tensor.Float32:
				return float64(s.Float32s()[0]), nil
			case tensor.Float64:
				return s.Float64s()[0], nil
			}
		}
	}
	return 0, fmt.Errorf("%v (%T) is not a float scalar", v, v)
}
