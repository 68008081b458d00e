package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GELU applies the exact (erf) GELU, x·Φ(x), elementwise to a tensor of
// any shape: PyTorch's nn.GELU() default, as timm's ViT MLP uses.
func GELU(x *gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(&geluOp{}, x)
}

type geluOp struct {
	opBase
	y   buffer
	cdf buffer // Φ(x) of the latest forward
}

func (op *geluOp) Arity() int { return 1 }
func (op *geluOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(a, a)
}
func (op *geluOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *geluOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *geluOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("gelu", vals, []string{"x"}, []int{0})
	if err != nil {
		return nil, err
	}
	x := ds[0]
	y := op.y.out(prealloc, dt, x.Shape()...)
	cdf := op.cdf.get(dt, x.Shape()...)
	if dt == tensor.Float32 {
		geluForward(floats[float32](y), floats[float32](cdf), floats[float32](x))
	} else {
		geluForward(floats[float64](y), floats[float64](cdf), floats[float64](x))
	}
	return y, nil
}
func (op *geluOp) DiffWRT(n int) []bool { return []bool{true} }
func (op *geluOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(&geluDiffOp{fwd: op}, in[0], output, grad)
	return gorgonia.Nodes{dx}, err
}
func (op *geluOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *geluOp) Hashcode() uint32      { return hashOf(op) }
func (op *geluOp) String() string        { return "GELU" }

// geluDiffOp computes dx = dy·gelu'(x) from inputs (x, y, dy), y ordering
// it after the forward whose Φ(x) it reads.
type geluDiffOp struct {
	opBase
	fwd *geluOp
	dx  buffer
}

func (op *geluDiffOp) Arity() int { return 3 }
func (op *geluDiffOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(a, a, a, a)
}
func (op *geluDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *geluDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *geluDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("gelu dx", vals, []string{"x", "y", "dy"}, []int{0, 0, 0})
	if err != nil {
		return nil, err
	}
	x, dy := ds[0], ds[2]
	if !dy.Shape().Eq(x.Shape()) {
		return nil, errShapes("gelu dx", "dy", dy.Shape(), "x", x.Shape())
	}
	cdf := op.fwd.cdf.d
	if cdf == nil || cdf.Dtype() != dt || !cdf.Shape().Eq(x.Shape()) {
		return nil, fmt.Errorf("ops: gelu dx: no forward values for x %v %v", x.Shape(), dt)
	}
	dx := op.dx.out(prealloc, dt, x.Shape()...)
	if dt == tensor.Float32 {
		geluBackward(floats[float32](dx), floats[float32](dy), floats[float32](x), floats[float32](cdf))
	} else {
		geluBackward(floats[float64](dx), floats[float64](dy), floats[float64](x), floats[float64](cdf))
	}
	return dx, nil
}
func (op *geluDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *geluDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *geluDiffOp) String() string        { return "GELUDx(x, y, dy)" }
