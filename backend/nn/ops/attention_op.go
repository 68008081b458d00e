package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
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
	s := qkv.Shape()
	if s.Dims() != 2 {
		return nil, fmt.Errorf("ops: attention: qkv %v must be a matrix", s)
	}
	if cfg.Heads <= 0 || cfg.Tokens <= 0 {
		return nil, fmt.Errorf("ops: attention: heads %d and tokens %d must be positive", cfg.Heads, cfg.Tokens)
	}
	if s[1]%(3*cfg.Heads) != 0 {
		return nil, fmt.Errorf("ops: attention: qkv %v: width %d is not 3 x heads (%d) x head width", s, s[1], cfg.Heads)
	}
	if s[0]%cfg.Tokens != 0 {
		return nil, fmt.Errorf("ops: attention: qkv %v: %d rows are not sequences of %d tokens", s, s[0], cfg.Tokens)
	}
	drop, err := newDropout("attention", cfg.Dropout, cfg.Seed)
	if err != nil {
		return nil, err
	}
	return gorgonia.ApplyOp(&attentionOp{heads: cfg.Heads, tokens: cfg.Tokens, drop: drop}, qkv)
}

type attentionOp struct {
	opBase
	heads, tokens int
	drop          dropout

	out                  buffer
	probs, mask, dropped buffer   // caches of the latest forward
	last                 attnDrop // the dropout the latest forward applied
	lastShape            attnShape
}

func (op *attentionOp) dropper() *dropout         { return &op.drop }
func (op *attentionOp) SetTraining(on bool) error { return op.drop.SetTraining(on) }

// shape derives the attention dimensions from qkv's shape.
func (op *attentionOp) shape(qkv tensor.Shape) (attnShape, error) {
	rows, w := qkv[0], qkv[1]
	if rows%op.tokens != 0 || w%(3*op.heads) != 0 {
		return attnShape{}, fmt.Errorf("ops: attention: qkv %v does not hold sequences of %d tokens with %d heads", qkv, op.tokens, op.heads)
	}
	return attnShape{n: rows / op.tokens, t: op.tokens, h: op.heads, dh: w / (3 * op.heads)}, nil
}

func (op *attentionOp) Arity() int    { return 1 }
func (op *attentionOp) Type() hm.Type { return fnType(tensorType(2), tensorType(2)) }
func (op *attentionOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[0], s[1] / 3}, nil
}
func (op *attentionOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

func (op *attentionOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("attention", vals, []string{"qkv"}, []int{2})
	if err != nil {
		return nil, err
	}
	qkv := ds[0]
	s, err := op.shape(qkv.Shape())
	if err != nil {
		return nil, err
	}
	op.last = attnDrop{}
	if op.drop.active() {
		op.last = attnDrop{p: op.drop.rate, seed: op.drop.rng.Uint64()}
	}
	op.lastShape = s
	size := s.tasks() * s.t * s.t
	out := op.out.out(prealloc, dt, s.n*s.t, s.d())
	probs := op.probs.get(dt, size)
	var mask, dropped *tensor.Dense
	if op.last.active() {
		mask, dropped = op.mask.get(dt, size), op.dropped.get(dt, size)
	}
	if dt == tensor.Float32 {
		attentionForward(floats[float32](out), floats[float32](probs), floats[float32](mask), floats[float32](dropped), floats[float32](qkv), s, op.last)
	} else {
		attentionForward(floats[float64](out), floats[float64](probs), floats[float64](mask), floats[float64](dropped), floats[float64](qkv), s, op.last)
	}
	return out, nil
}

func (op *attentionOp) DiffWRT(n int) []bool { return []bool{true} }
func (op *attentionOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := gorgonia.ApplyOp(&attentionDiffOp{fwd: op}, in[0], output, grad)
	return gorgonia.Nodes{d}, err
}
func (op *attentionOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *attentionOp) Hashcode() uint32      { return hashOf(op) }
func (op *attentionOp) String() string {
	return fmt.Sprintf("Attention{heads=%d, tokens=%d, dropout=%g, seed=%d}", op.heads, op.tokens, op.drop.rate, op.drop.seed)
}

// attentionDiffOp computes dqkv from inputs (qkv, out, dout), out ordering it
// after the forward whose probabilities it reads.
type attentionDiffOp struct {
	opBase
	fwd     *attentionOp
	dqkv    buffer
	scratch buffer
}

func (op *attentionDiffOp) Arity() int { return 3 }
func (op *attentionDiffOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2), tensorType(2))
}
func (op *attentionDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *attentionDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *attentionDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("attention dqkv", vals, []string{"qkv", "out", "dout"}, []int{2, 2, 2})
	if err != nil {
		return nil, err
	}
	qkv, dout := ds[0], ds[2]
	f := op.fwd
	s := f.lastShape
	if f.probs.d == nil || f.probs.d.Dtype() != dt || s.n*s.t != qkv.Shape()[0] || s.d()*3 != qkv.Shape()[1] {
		return nil, fmt.Errorf("ops: attention dqkv: no forward probabilities for qkv %v %v", qkv.Shape(), dt)
	}
	if dout.Shape()[0] != s.n*s.t || dout.Shape()[1] != s.d() {
		return nil, errShapes("attention dqkv", "dout", dout.Shape(), "qkv", qkv.Shape())
	}
	dqkv := op.dqkv.out(prealloc, dt, qkv.Shape()...)
	scratch := op.scratch.get(dt, f.probs.d.Shape()...)
	var mask, dropped *tensor.Dense
	if f.last.active() {
		mask, dropped = f.mask.d, f.dropped.d
	}
	if dt == tensor.Float32 {
		attentionBackward(floats[float32](dqkv), floats[float32](dout), floats[float32](qkv), floats[float32](f.probs.d), floats[float32](mask), floats[float32](dropped), floats[float32](scratch), s, f.last)
	} else {
		attentionBackward(floats[float64](dqkv), floats[float64](dout), floats[float64](qkv), floats[float64](f.probs.d), floats[float64](mask), floats[float64](dropped), floats[float64](scratch), s, f.last)
	}
	return dqkv, nil
}
func (op *attentionDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *attentionDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *attentionDiffOp) String() string        { return "AttentionDqkv(qkv, out, dout)" }
