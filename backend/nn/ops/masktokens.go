package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maskTokensForward sets y[r] = token where mask[r], else x[r], for the
// rows of x[R, D].
func maskTokensForward[T Float](y, x, token []T, mask []bool, cols int) {
	for r, m := range mask {
		src := x[r*cols : (r+1)*cols]
		if m {
			src = token[:cols]
		}
		copy(y[r*cols:(r+1)*cols], src)
	}
}

// maskTokensBackwardX sets dx[r] = dy[r] on unmasked rows and 0 on masked ones.
func maskTokensBackwardX[T Float](dx, dy []T, mask []bool, cols int) {
	for r, m := range mask {
		if m {
			clear(dx[r*cols : (r+1)*cols])
		} else {
			copy(dx[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols])
		}
	}
}

// maskTokensBackwardToken sets dtoken[D] = Σ_{masked r} dy[r].
func maskTokensBackwardToken[T Float](dtoken, dy []T, mask []bool, cols int) {
	clear(dtoken[:cols])
	for r, m := range mask {
		if m {
			for j, v := range dy[r*cols : (r+1)*cols] {
				dtoken[j] += v
			}
		}
	}
}

// MaskTokens replaces the masked rows of x[R, D] by token[1, D]: iBOT's
// masked image modelling on patch embeddings, before the position
// embedding is added. The mask, one flag per row, is data set with
// MaskedTokens.SetMask before each run; the gradient reaches x on unmasked
// rows and the token as the sum over masked rows.
func MaskTokens(x, token *gorgonia.Node) (*gorgonia.Node, *MaskedTokens, error) {
	xs, ts := x.Shape(), token.Shape()
	if xs.Dims() != 2 || ts.Dims() != 2 || ts[0] != 1 || ts[1] != xs[1] {
		return nil, nil, fmt.Errorf("ops: mask tokens: x %v must be a matrix [R, D] and token %v [1, D]", xs, ts)
	}
	op := &MaskedTokens{mask: make([]bool, xs[0])}
	y, err := gorgonia.ApplyOp(op, x, token)
	if err != nil {
		return nil, nil, err
	}
	return y, op, nil
}

// MaskedTokens is the op behind MaskTokens.
type MaskedTokens struct {
	opBase
	mask []bool
	y    buffer
}

// SetMask copies the rows to mask for the next runs, one flag per row of x
// (all false, the initial mask, passes x through).
func (op *MaskedTokens) SetMask(mask []bool) error {
	if len(mask) != len(op.mask) {
		return fmt.Errorf("ops: mask tokens: %d mask flags for %d rows", len(mask), len(op.mask))
	}
	copy(op.mask, mask)
	return nil
}

func (op *MaskedTokens) Arity() int { return 2 }
func (op *MaskedTokens) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2))
}
func (op *MaskedTokens) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *MaskedTokens) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

// xToken checks the inputs (x, token, ...) against the mask.
func (op *MaskedTokens) xToken(name string, vals []gorgonia.Value, names []string) ([]*tensor.Dense, tensor.Dtype, error) {
	dims := make([]int, len(names))
	for i := range dims {
		dims[i] = 2
	}
	ds, dt, err := inputs(name, vals, names, dims)
	if err != nil {
		return nil, dt, err
	}
	x, token := ds[0], ds[1]
	if x.Shape()[0] != len(op.mask) || token.Shape().TotalSize() != x.Shape()[1] {
		return nil, dt, fmt.Errorf("ops: %s: x %v and token %v do not fit a mask of %d rows", name, x.Shape(), token.Shape(), len(op.mask))
	}
	return ds, dt, nil
}

func (op *MaskedTokens) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := op.xToken("mask tokens", vals, []string{"x", "token"})
	if err != nil {
		return nil, err
	}
	x, token := ds[0], ds[1]
	y := op.y.out(prealloc, dt, x.Shape()...)
	if dt == tensor.Float32 {
		maskTokensForward(floats[float32](y), floats[float32](x), floats[float32](token), op.mask, x.Shape()[1])
	} else {
		maskTokensForward(floats[float64](y), floats[float64](x), floats[float64](token), op.mask, x.Shape()[1])
	}
	return y, nil
}
func (op *MaskedTokens) DiffWRT(int) []bool { return []bool{true, true} }
func (op *MaskedTokens) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	grads := make(gorgonia.Nodes, 2)
	for i := range grads {
		var err error
		if grads[i], err = gorgonia.ApplyOp(&maskTokensDiffOp{fwd: op, token: i == 1}, in[0], in[1], grad); err != nil {
			return nil, err
		}
	}
	return grads, nil
}
func (op *MaskedTokens) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *MaskedTokens) Hashcode() uint32      { return hashOf(op) }
func (op *MaskedTokens) String() string        { return "MaskTokens(x, token)" }

// maskTokensDiffOp computes dx (or dtoken) from inputs (x, token, dy) and
// the mask, which SetMask changes only between runs.
type maskTokensDiffOp struct {
	opBase
	fwd   *MaskedTokens
	token bool
	d     buffer
}

func (op *maskTokensDiffOp) Arity() int { return 3 }
func (op *maskTokensDiffOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2), tensorType(2))
}
func (op *maskTokensDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	if op.token {
		return in[1].(tensor.Shape).Clone(), nil
	}
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *maskTokensDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *maskTokensDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := op.fwd.xToken(op.String(), vals, []string{"x", "token", "dy"})
	if err != nil {
		return nil, err
	}
	x, token, dy := ds[0], ds[1], ds[2]
	if !dy.Shape().Eq(x.Shape()) {
		return nil, errShapes(op.String(), "dy", dy.Shape(), "x", x.Shape())
	}
	cols := x.Shape()[1]
	if op.token {
		d := op.d.out(prealloc, dt, token.Shape()...)
		if dt == tensor.Float32 {
			maskTokensBackwardToken(floats[float32](d), floats[float32](dy), op.fwd.mask, cols)
		} else {
			maskTokensBackwardToken(floats[float64](d), floats[float64](dy), op.fwd.mask, cols)
		}
		return d, nil
	}
	d := op.d.out(prealloc, dt, x.Shape()...)
	if dt == tensor.Float32 {
		maskTokensBackwardX(floats[float32](d), floats[float32](dy), op.fwd.mask, cols)
	} else {
		maskTokensBackwardX(floats[float64](d), floats[float64](dy), op.fwd.mask, cols)
	}
	return d, nil
}
func (op *maskTokensDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *maskTokensDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *maskTokensDiffOp) String() string {
	if op.token {
		return "MaskTokensDtoken(x, token, dy)"
	}
	return "MaskTokensDx(x, token, dy)"
}
