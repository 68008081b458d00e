package ops

import (
	"fmt"

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
	op.spec = spec{
		name: "cross-entropy", in: []arg{{"logits", 2}}, out: scalarArg, shape: builtFor(s),
		kernel: bind(op, crossEntropyDo[float32], crossEntropyDo[float64]),
	}
	loss, err := apply(op, logits)
	if err != nil {
		return nil, nil, err
	}
	return loss, op, nil
}

// CrossEntropy is the op behind SoftmaxCrossEntropy.
type CrossEntropy struct {
	fused
	n, c   int   // the logits' shape
	labels []int // this batch's labels, copied by SetLabels
	probs  buffer
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

func crossEntropyDo[T Float](op *CrossEntropy, c *call[T]) error {
	if len(op.labels) != op.n {
		return fmt.Errorf("labels not set (SetLabels before running)")
	}
	c.loss = float64(crossEntropyForward(scratch[T](&op.probs, op.n, op.c), c.in[0], op.labels, op.n, op.c))
	return nil
}

func (op *CrossEntropy) DiffWRT(n int) []bool { return []bool{true} }

// SymDiff builds dlogits from (logits, loss, dloss).
func (op *CrossEntropy) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := apply(newOp(spec{
		name: "cross-entropy dlogits", in: []arg{{"logits", 2}, {"loss", scalarArg}, {"dloss", scalarArg}}, out: 2,
		kernel: bind(op, crossEntropyDiffDo[float32], crossEntropyDiffDo[float64]),
	}), in[0], output, grad)
	return gorgonia.Nodes{d}, err
}

func crossEntropyDiffDo[T Float](op *CrossEntropy, c *call[T]) error {
	probs, err := held[T](&op.probs, op.n*op.c, "probabilities")
	if err != nil {
		return err
	}
	crossEntropyBackward(c.out, probs, op.labels, op.n, op.c, T(c.grad))
	return nil
}
