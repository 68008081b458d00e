package ops

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// AttentionConfig sets up multi-head self-attention.
type AttentionConfig struct {
	Heads   int     // H; the width D must divide by it
	Tokens  int     // T, tokens per sequence: qkv holds N*T rows
	Dropout float64 // attention-probability dropout rate in [0, 1), applied in training only
	Seed    uint64  // seeds the dropout masks; give each layer its own
}

// Attention computes timm's multi-head self-attention core from
// qkv[N*T, 3D] (the qkv Linear's output): per sequence and head,
// softmax(q·kᵀ/√Dh)·v with Dh = D/H, heads concatenated into out[N*T, D],
// ready for the proj Linear. The probabilities are kept for the backward;
// work is split over (sequence, head) pairs.
func Attention(qkv *gorgonia.Node, cfg AttentionConfig) (*gorgonia.Node, error) {
	if cfg.Heads <= 0 || cfg.Tokens <= 0 {
		return nil, fmt.Errorf("ops: attention: heads %d and tokens %d must be positive", cfg.Heads, cfg.Tokens)
	}
	drop, err := newDropout("attention", cfg.Dropout, cfg.Seed)
	if err != nil {
		return nil, err
	}
	op := &attentionOp{heads: cfg.Heads, tokens: cfg.Tokens, drop: drop}
	op.spec = spec{
		name:   "attention",
		params: fmt.Sprintf("heads=%d, tokens=%d, dropout=%g, seed=%d", cfg.Heads, cfg.Tokens, cfg.Dropout, cfg.Seed),
		in:     []arg{{"qkv", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			a, err := op.shape(s[0])
			return tensor.Shape{s[0][0], a.d()}, err
		},
		kernel: bind(op, attentionDo[float32], attentionDo[float64]),
	}
	return apply(op, qkv)
}

type attentionOp struct {
	fused
	heads, tokens int
	drop          dropout

	probs, mask, dropped buffer   // caches of the latest forward
	last                 attnDrop // the dropout the latest forward applied
	lastShape            attnShape
	scratch              buffer // the backward's
}

func (op *attentionOp) dropper() *dropout         { return &op.drop }
func (op *attentionOp) SetTraining(on bool) error { return op.drop.SetTraining(on) }

// shape derives the attention dimensions from qkv's shape.
func (op *attentionOp) shape(qkv tensor.Shape) (attnShape, error) {
	rows, w := qkv[0], qkv[1]
	if w%(3*op.heads) != 0 {
		return attnShape{}, fmt.Errorf("qkv %v: width %d is not 3 x heads (%d) x head width", qkv, w, op.heads)
	}
	if rows%op.tokens != 0 {
		return attnShape{}, fmt.Errorf("qkv %v: %d rows are not sequences of %d tokens", qkv, rows, op.tokens)
	}
	return attnShape{n: rows / op.tokens, t: op.tokens, h: op.heads, dh: w / (3 * op.heads)}, nil
}

func attentionDo[T Float](op *attentionOp, c *call[T]) error {
	s, err := op.shape(c.shape[0])
	if err != nil {
		return err
	}
	op.last = attnDrop{}
	if op.drop.active() {
		op.last = attnDrop{p: op.drop.rate, seed: op.drop.stepSeed, first: op.drop.first}
	}
	op.lastShape = s
	size := s.tasks() * s.t * s.t
	var mask, dropped []T
	if op.last.active() {
		mask, dropped = scratch[T](&op.mask, size), scratch[T](&op.dropped, size)
	}
	attentionForward(c.out, scratch[T](&op.probs, size), mask, dropped, c.in[0], s, op.last)
	return nil
}

func (op *attentionOp) DiffWRT(n int) []bool { return []bool{true} }

// SymDiff builds dqkv from (qkv, out, dout), out ordering it after the
// forward whose probabilities it reads.
func (op *attentionOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := apply(newOp(spec{
		name: "attention dqkv", in: []arg{{"qkv", 2}, {"out", 2}, {"dout", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if s[2][0] != s[0][0] || 3*s[2][1] != s[0][1] {
				return nil, fmt.Errorf("dout %v does not match qkv %v", s[2], s[0])
			}
			return s[0].Clone(), nil
		},
		kernel: bind(op, attentionDQKVDo[float32], attentionDQKVDo[float64]),
	}), in[0], output, grad)
	return gorgonia.Nodes{d}, err
}

func attentionDQKVDo[T Float](op *attentionOp, c *call[T]) error {
	s := op.lastShape
	size := s.tasks() * s.t * s.t
	if s.n*s.t != c.shape[0][0] || 3*s.d() != c.shape[0][1] {
		return fmt.Errorf("no forward for qkv %v", c.shape[0])
	}
	probs, err := held[T](&op.probs, size, "probabilities")
	if err != nil {
		return err
	}
	var mask, dropped []T
	if op.last.active() {
		mask, dropped = floats[T](op.mask.d), floats[T](op.dropped.d)
	}
	attentionBackward(c.out, c.in[2], c.in[0], probs, mask, dropped, scratch[T](&op.scratch, size), s, op.last)
	return nil
}
