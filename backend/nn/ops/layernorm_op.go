package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LayerNormEps is the epsilon of timm's ViT LayerNorm (PyTorch's default is 1e-5).
const LayerNormEps = 1e-6

// LayerNorm normalises each row of x[R,D] over its D features, then scales
// by gamma[D] and shifts by beta[D], as PyTorch's nn.LayerNorm(D, eps). It
// keeps each row's mean and 1/sqrt(var+eps) for the backward.
func LayerNorm(x, gamma, beta *gorgonia.Node, eps float64) (*gorgonia.Node, error) {
	xs, gs, bs := x.Shape(), gamma.Shape(), beta.Shape()
	if xs.Dims() != 2 {
		return nil, fmt.Errorf("ops: layernorm: x %v must be a matrix", xs)
	}
	if gs.Dims() != 1 || gs[0] != xs[1] || bs.Dims() != 1 || bs[0] != xs[1] {
		return nil, fmt.Errorf("ops: layernorm: gamma %v and beta %v must be vectors of %d", gs, bs, xs[1])
	}
	if !(eps > 0) {
		return nil, fmt.Errorf("ops: layernorm: eps %g must be positive", eps)
	}
	return gorgonia.ApplyOp(&layerNormOp{eps: eps}, x, gamma, beta)
}

type layerNormOp struct {
	opBase
	eps        float64
	y          buffer
	mean, rstd buffer // per-row statistics of the latest forward
}

func (op *layerNormOp) Arity() int { return 3 }
func (op *layerNormOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(1), tensorType(1), tensorType(2))
}
func (op *layerNormOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *layerNormOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

func (op *layerNormOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("layernorm", vals, []string{"x", "gamma", "beta"}, []int{2, 1, 1})
	if err != nil {
		return nil, err
	}
	x, g, b := ds[0], ds[1], ds[2]
	rows, d := x.Shape()[0], x.Shape()[1]
	if g.Shape()[0] != d || b.Shape()[0] != d {
		return nil, fmt.Errorf("ops: layernorm: gamma %v and beta %v must be vectors of %d", g.Shape(), b.Shape(), d)
	}
	y := op.y.out(prealloc, dt, rows, d)
	mean, rstd := op.mean.get(dt, rows), op.rstd.get(dt, rows)
	if dt == tensor.Float32 {
		layerNormForward(floats[float32](y), floats[float32](mean), floats[float32](rstd), floats[float32](x), floats[float32](g), floats[float32](b), rows, d, float32(op.eps))
	} else {
		layerNormForward(floats[float64](y), floats[float64](mean), floats[float64](rstd), floats[float64](x), floats[float64](g), floats[float64](b), rows, d, op.eps)
	}
	return y, nil
}

func (op *layerNormOp) DiffWRT(n int) []bool { return []bool{true, true, true} }

func (op *layerNormOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	x, gamma := in[0], in[1]
	dx, err := gorgonia.ApplyOp(&layerNormDXOp{fwd: op}, x, gamma, output, grad)
	if err != nil {
		return nil, err
	}
	dgamma, err := gorgonia.ApplyOp(&layerNormDGammaOp{fwd: op}, x, output, grad)
	if err != nil {
		return nil, err
	}
	dbeta, err := gorgonia.ApplyOp(&colSumOp{}, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dgamma, dbeta}, nil
}

func (op *layerNormOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *layerNormOp) Hashcode() uint32      { return hashOf(op) }
func (op *layerNormOp) String() string        { return fmt.Sprintf("LayerNorm{eps=%g}", op.eps) }

// stats returns the forward's cached statistics for rows rows of dtype dt.
func (op *layerNormOp) stats(name string, dt tensor.Dtype, rows int) (mean, rstd *tensor.Dense, err error) {
	mean, rstd = op.mean.d, op.rstd.d
	if mean == nil || mean.Dtype() != dt || mean.Shape()[0] != rows {
		return nil, nil, fmt.Errorf("ops: %s: no forward statistics for %d %v rows", name, rows, dt)
	}
	return mean, rstd, nil
}

// layerNormDXOp computes dx from inputs (x, gamma, y, dy), y ordering it
// after the forward whose statistics it reads.
type layerNormDXOp struct {
	opBase
	fwd *layerNormOp
	dx  buffer
}

func (op *layerNormDXOp) Arity() int { return 4 }
func (op *layerNormDXOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(1), tensorType(2), tensorType(2), tensorType(2))
}
func (op *layerNormDXOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *layerNormDXOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *layerNormDXOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("layernorm dx", vals, []string{"x", "gamma", "y", "dy"}, []int{2, 1, 2, 2})
	if err != nil {
		return nil, err
	}
	x, g, dy := ds[0], ds[1], ds[3]
	rows, d := x.Shape()[0], x.Shape()[1]
	if !dy.Shape().Eq(x.Shape()) {
		return nil, fmt.Errorf("ops: layernorm dx: dy %v does not match x %v", dy.Shape(), x.Shape())
	}
	mean, rstd, err := op.fwd.stats("layernorm dx", dt, rows)
	if err != nil {
		return nil, err
	}
	dx := op.dx.out(prealloc, dt, rows, d)
	if dt == tensor.Float32 {
		layerNormBackwardX(floats[float32](dx), floats[float32](dy), floats[float32](x), floats[float32](mean), floats[float32](rstd), floats[float32](g), rows, d)
	} else {
		layerNormBackwardX(floats[float64](dx), floats[float64](dy), floats[float64](x), floats[float64](mean), floats[float64](rstd), floats[float64](g), rows, d)
	}
	return dx, nil
}
func (op *layerNormDXOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *layerNormDXOp) Hashcode() uint32      { return hashOf(op) }
func (op *layerNormDXOp) String() string        { return "LayerNormDx(x, gamma, y, dy)" }

// layerNormDGammaOp computes dgamma[D] = Σ_r dy·x̂ from inputs (x, y, dy).
type layerNormDGammaOp struct {
	opBase
	fwd *layerNormOp
	dg  buffer
}

func (op *layerNormDGammaOp) Arity() int { return 3 }
func (op *layerNormDGammaOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2), tensorType(1))
}
func (op *layerNormDGammaOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}
func (op *layerNormDGammaOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *layerNormDGammaOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("layernorm dgamma", vals, []string{"x", "y", "dy"}, []int{2, 2, 2})
	if err != nil {
		return nil, err
	}
	x, dy := ds[0], ds[2]
	rows, d := x.Shape()[0], x.Shape()[1]
	if !dy.Shape().Eq(x.Shape()) {
		return nil, fmt.Errorf("ops: layernorm dgamma: dy %v does not match x %v", dy.Shape(), x.Shape())
	}
	mean, rstd, err := op.fwd.stats("layernorm dgamma", dt, rows)
	if err != nil {
		return nil, err
	}
	dg := op.dg.out(prealloc, dt, d)
	if dt == tensor.Float32 {
		layerNormBackwardGamma(floats[float32](dg), floats[float32](dy), floats[float32](x), floats[float32](mean), floats[float32](rstd), rows, d)
	} else {
		layerNormBackwardGamma(floats[float64](dg), floats[float64](dy), floats[float64](x), floats[float64](mean), floats[float64](rstd), rows, d)
	}
	return dg, nil
}
func (op *layerNormDGammaOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *layerNormDGammaOp) Hashcode() uint32      { return hashOf(op) }
func (op *layerNormDGammaOp) String() string        { return "LayerNormDGamma(x, y, dy)" }
