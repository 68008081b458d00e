package ops

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DropPath configures the stochastic depth of a residual branch.
type DropPath struct {
	Rate   float64 // chance, in [0, 1), of dropping a sample's branch in training
	Tokens int     // rows per sample: each sample's T rows share one draw
	Seed   uint64  // seeds the draws; give each block its own
}

// Residual returns y = x + dropPath(f) for x, f [R, D]: in training each
// sample's branch f is zeroed with chance Rate and otherwise scaled by
// 1/(1-Rate), as timm's DropPath; in evaluation, or at Rate 0, y = x + f.
func Residual(x, f *gorgonia.Node, dp DropPath) (*gorgonia.Node, error) {
	drop, err := newDropout("residual", dp.Rate, dp.Seed)
	if err != nil {
		return nil, err
	}
	if xs := x.Shape(); dp.Rate > 0 && (dp.Tokens <= 0 || xs.Dims() != 2 || xs[0]%dp.Tokens != 0) {
		return nil, fmt.Errorf("ops: residual: x %v is not samples of %d rows", xs, dp.Tokens)
	}
	op := &residualOp{tokens: dp.Tokens, drop: drop}
	op.spec = spec{
		name: "residual", params: fmt.Sprintf("droppath=%g, tokens=%d, seed=%d", dp.Rate, dp.Tokens, dp.Seed),
		in: []arg{{"x", 2}, {"f", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if !s[0].Eq(s[1]) {
				return nil, fmt.Errorf("x %v and f %v must be matrices of one shape", s[0], s[1])
			}
			return s[0].Clone(), nil
		},
		kernel: bind(op, residualDo[float32], residualDo[float64]),
	}
	return apply(op, x, f)
}

type residualOp struct {
	fused
	tokens int
	drop   dropout
	keep   buffer // per-sample scale of the latest forward
	kept   bool   // whether the latest forward applied keep
}

func (op *residualOp) dropper() *dropout         { return &op.drop }
func (op *residualOp) SetTraining(on bool) error { return op.drop.SetTraining(on) }

func residualDo[T Float](op *residualOp, c *call[T]) error {
	rows, d := c.dims2(0)
	var keep []T
	op.kept = op.drop.active()
	if op.kept {
		if rows%op.tokens != 0 {
			return fmt.Errorf("x %v is not samples of %d rows", c.shape[0], op.tokens)
		}
		keep = scratch[T](&op.keep, rows/op.tokens)
		samplesKeepMask(keep, op.drop.rate, op.drop.stepSeed, op.drop.first)
	}
	residualForward(c.out, c.in[0], c.in[1], keep, op.tokens*d)
	return nil
}

// The skip path passes the gradient through unchanged, so x's gradient is
// the incoming node itself; so is f's without drop path.
func (op *residualOp) DiffWRT(n int) []bool { return []bool{true, true} }

// SymDiff builds, with drop path, df = dy·keep[sample] from (y, dy), y
// ordering it after the forward whose draws it reads.
func (op *residualOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.drop.rate == 0 {
		return gorgonia.Nodes{grad, grad}, nil
	}
	df, err := apply(newOp(spec{
		name: "drop path df", in: []arg{{"y", 2}, {"dy", 2}}, out: 2, same: []int{1},
		kernel: bind(op, dropPathDFDo[float32], dropPathDFDo[float64]),
	}), output, grad)
	return gorgonia.Nodes{grad, df}, err
}

func dropPathDFDo[T Float](op *residualOp, c *call[T]) error {
	rows, d := c.dims2(1)
	var keep []T
	if op.kept {
		var err error
		if keep, err = held[T](&op.keep, rows/op.tokens, "draws"); err != nil {
			return err
		}
	}
	dropPathBackward(c.out, c.in[1], keep, op.tokens*d)
	return nil
}
