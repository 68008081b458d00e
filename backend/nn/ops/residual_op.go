package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
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
	xs, fs := x.Shape(), f.Shape()
	if xs.Dims() != 2 || !xs.Eq(fs) {
		return nil, fmt.Errorf("ops: residual: x %v and f %v must be matrices of one shape", xs, fs)
	}
	drop, err := newDropout("residual", dp.Rate, dp.Seed)
	if err != nil {
		return nil, err
	}
	if dp.Rate > 0 && (dp.Tokens <= 0 || xs[0]%dp.Tokens != 0) {
		return nil, fmt.Errorf("ops: residual: x %v is not samples of %d rows", xs, dp.Tokens)
	}
	return gorgonia.ApplyOp(&residualOp{tokens: dp.Tokens, drop: drop}, x, f)
}

type residualOp struct {
	opBase
	tokens int
	drop   dropout
	y      buffer
	keep   buffer // per-sample scale of the latest forward
	kept   bool   // whether the latest forward applied keep
}

func (op *residualOp) dropper() *dropout         { return &op.drop }
func (op *residualOp) SetTraining(on bool) error { return op.drop.SetTraining(on) }

func (op *residualOp) Arity() int { return 2 }
func (op *residualOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2))
}
func (op *residualOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *residualOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *residualOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("residual", vals, []string{"x", "f"}, []int{2, 2})
	if err != nil {
		return nil, err
	}
	x, f := ds[0], ds[1]
	if !x.Shape().Eq(f.Shape()) {
		return nil, errShapes("residual", "x", x.Shape(), "f", f.Shape())
	}
	rows, d := x.Shape()[0], x.Shape()[1]
	y := op.y.out(prealloc, dt, rows, d)
	var keep *tensor.Dense
	op.kept = op.drop.active()
	if op.kept {
		if rows%op.tokens != 0 {
			return nil, fmt.Errorf("ops: residual: x %v is not samples of %d rows", x.Shape(), op.tokens)
		}
		keep = op.keep.get(dt, rows/op.tokens)
	}
	if dt == tensor.Float32 {
		if keep != nil {
			keepMask(floats[float32](keep), op.drop.rate, op.drop.rng)
		}
		residualForward(floats[float32](y), floats[float32](x), floats[float32](f), floats[float32](keep), op.tokens*d)
	} else {
		if keep != nil {
			keepMask(floats[float64](keep), op.drop.rate, op.drop.rng)
		}
		residualForward(floats[float64](y), floats[float64](x), floats[float64](f), floats[float64](keep), op.tokens*d)
	}
	return y, nil
}

// The skip path passes the gradient through unchanged, so x's gradient is
// the incoming node itself; so is f's without drop path.
func (op *residualOp) DiffWRT(n int) []bool { return []bool{true, true} }
func (op *residualOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.drop.rate == 0 {
		return gorgonia.Nodes{grad, grad}, nil
	}
	df, err := gorgonia.ApplyOp(&dropPathDiffOp{fwd: op}, output, grad)
	return gorgonia.Nodes{grad, df}, err
}
func (op *residualOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *residualOp) Hashcode() uint32      { return hashOf(op) }
func (op *residualOp) String() string {
	return fmt.Sprintf("Residual{droppath=%g, tokens=%d, seed=%d}", op.drop.rate, op.tokens, op.drop.seed)
}

// dropPathDiffOp computes df = dy·keep[sample] from inputs (y, dy), y
// ordering it after the forward whose draws it reads.
type dropPathDiffOp struct {
	opBase
	fwd *residualOp
	df  buffer
}

func (op *dropPathDiffOp) Arity() int { return 2 }
func (op *dropPathDiffOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2))
}
func (op *dropPathDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *dropPathDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *dropPathDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("drop path df", vals, []string{"y", "dy"}, []int{2, 2})
	if err != nil {
		return nil, err
	}
	dy := ds[1]
	rows, d := dy.Shape()[0], dy.Shape()[1]
	df := op.df.out(prealloc, dt, rows, d)
	f := op.fwd
	var keep *tensor.Dense
	if f.kept {
		keep = f.keep.d
		if keep.Dtype() != dt || keep.Shape()[0]*f.tokens != rows {
			return nil, fmt.Errorf("ops: drop path df: no forward draws for dy %v %v", dy.Shape(), dt)
		}
	}
	if dt == tensor.Float32 {
		dropPathBackward(floats[float32](df), floats[float32](dy), floats[float32](keep), f.tokens*d)
	} else {
		dropPathBackward(floats[float64](df), floats[float64](dy), floats[float64](keep), f.tokens*d)
	}
	return df, nil
}
func (op *dropPathDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *dropPathDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *dropPathDiffOp) String() string        { return "DropPathDf(y, dy)" }
