package ops

import (
	"errors"
	"fmt"

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
	xs := x.Shape()
	if xs.Dims() != 2 {
		return nil, nil, fmt.Errorf("ops: mask tokens: x %v must be a matrix [R, D]", xs)
	}
	op := &MaskedTokens{mask: make([]bool, xs[0])}
	op.spec = spec{
		name: "mask tokens", in: []arg{{"x", 2}, {"token", 2}}, out: 2, shape: op.fits,
		kernel: bind(op, maskTokensDo[float32], maskTokensDo[float64]),
	}
	y, err := apply(op, x, token)
	if err != nil {
		return nil, nil, err
	}
	return y, op, nil
}

// MaskedTokens is the op behind MaskTokens.
type MaskedTokens struct {
	fused
	mask []bool
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

// fits checks inputs (x, token, ...) against the mask; the output has x's
// shape.
func (op *MaskedTokens) fits(s []tensor.Shape) (tensor.Shape, error) {
	x, token := s[0], s[1]
	if x[0] != len(op.mask) || token[0] != 1 || token[1] != x[1] {
		return nil, fmt.Errorf("x %v must be a matrix [R, D] of R = %d mask rows and token %v [1, D]", x, len(op.mask), token)
	}
	return x.Clone(), nil
}

func maskTokensDo[T Float](op *MaskedTokens, c *call[T]) error {
	maskTokensForward(c.out, c.in[0], c.in[1], op.mask, c.shape[0][1])
	return nil
}

func (op *MaskedTokens) DiffWRT(int) []bool { return []bool{true, true} }

// SymDiff builds dx and dtoken from (x, token, dy) and the mask, which
// SetMask changes only between runs.
func (op *MaskedTokens) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	diff := func(name string, shape func([]tensor.Shape) (tensor.Shape, error), k kernel) (*gorgonia.Node, error) {
		return apply(newOp(spec{
			name: name, in: []arg{{"x", 2}, {"token", 2}, {"dy", 2}}, out: 2, same: []int{2}, shape: shape, kernel: k,
		}), in[0], in[1], grad)
	}
	dx, errX := diff("mask tokens dx", op.fits, bind(op, maskTokensDXDo[float32], maskTokensDXDo[float64]))
	dt, errT := diff("mask tokens dtoken", func(s []tensor.Shape) (tensor.Shape, error) {
		_, err := op.fits(s)
		return s[1].Clone(), err
	}, bind(op, maskTokensDTokenDo[float32], maskTokensDTokenDo[float64]))
	return gorgonia.Nodes{dx, dt}, errors.Join(errX, errT)
}

func maskTokensDXDo[T Float](op *MaskedTokens, c *call[T]) error {
	maskTokensBackwardX(c.out, c.in[2], op.mask, c.shape[0][1])
	return nil
}

func maskTokensDTokenDo[T Float](op *MaskedTokens, c *call[T]) error {
	maskTokensBackwardToken(c.out, c.in[2], op.mask, c.shape[0][1])
	return nil
}
