package ops

import (
	"errors"
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear returns y[R,O] = x[R,I]·Wᵀ + b for W[O,I] (PyTorch's nn.Linear
// weight layout) and b a vector [O], or no bias when b is nil.
//
// Its gradients are three nodes, dx = dy·W, dW = dyᵀ·x and db = Σ_rows dy,
// each one BLAS call (or one column sum) into its own reused buffer. Separate
// single-output nodes fit Gorgonia's one-value-per-node model without side
// outputs, and let dx be left out where x carries no gradient (x made by an
// op not differentiable w.r.t. its inputs, such as Patchify); one fused node
// would save no arithmetic.
func Linear(x, w, b *gorgonia.Node) (*gorgonia.Node, error) {
	op := &linearOp{bias: b != nil, gradX: carriesGradient(x)}
	op.spec = spec{
		name: "linear", in: []arg{{"x", 2}, {"W", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			x, w := s[0], s[1]
			if x[1] != w[1] {
				return nil, fmt.Errorf("x %v has %d features but W %v takes %d", x, x[1], w, w[1])
			}
			if len(s) > 2 && s[2][0] != w[0] {
				return nil, fmt.Errorf("bias %v must be a vector of %d", s[2], w[0])
			}
			return tensor.Shape{x[0], w[0]}, nil
		},
		kernel: kernel{linearDo[float32], linearDo[float64]},
	}
	if b == nil {
		return apply(op, x, w)
	}
	op.in, op.params = append(op.in, arg{"b", 1}), "bias"
	return apply(op, x, w, b)
}

// linearDo is the forward, from inputs (x, W[, b]).
func linearDo[T Float](c *call[T]) error {
	var b []T
	if len(c.in) > 2 {
		b = c.in[2]
	}
	rows, in := c.dims2(0)
	linearForward(c.out, c.in[0], c.in[1], b, rows, in, c.shape[1][0])
	return nil
}

// carriesGradient reports whether a gradient can flow into n: an input
// (a parameter, or data the caller may differentiate) or the output of an op
// differentiable w.r.t. at least one input.
func carriesGradient(n *gorgonia.Node) bool {
	if n.Op() == nil {
		return true
	}
	sd, ok := n.Op().(gorgonia.SDOp)
	if !ok {
		return false
	}
	if sd.Arity() < 0 {
		return true // n-ary: assume some input is differentiable
	}
	for _, d := range sd.DiffWRT(sd.Arity()) {
		if d {
			return true
		}
	}
	return false
}

type linearOp struct {
	fused
	bias  bool // a third input b[O]
	gradX bool // build dx in SymDiff
}

func (op *linearOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = i > 0 || op.gradX
	}
	return d
}

func (op *linearOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	grads := make(gorgonia.Nodes, len(in))
	var errX, errW, errB error
	if op.gradX {
		grads[0], errX = linearDX(in[1], grad)
	}
	grads[1], errW = linearDW(in[0], grad)
	if op.bias {
		grads[2], errB = columnSum(grad)
	}
	return grads, errors.Join(errX, errW, errB)
}

// linearDX computes dx[R,I] = dy[R,O]·W[O,I] from inputs (W, dy).
func linearDX(w, dy *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(newOp(spec{
		name: "linear dx", in: []arg{{"W", 2}, {"dy", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			w, dy := s[0], s[1]
			if dy[1] != w[0] {
				return nil, fmt.Errorf("dy %v does not match W %v", dy, w)
			}
			return tensor.Shape{dy[0], w[1]}, nil
		},
		kernel: kernel{linearDXDo[float32], linearDXDo[float64]},
	}), w, dy)
}

func linearDXDo[T Float](c *call[T]) error {
	out, in := c.dims2(0)
	linearBackwardX(c.out, c.in[1], c.in[0], c.shape[1][0], in, out)
	return nil
}

// linearDW computes dW[O,I] = dy[R,O]ᵀ·x[R,I] from inputs (x, dy).
func linearDW(x, dy *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(newOp(spec{
		name: "linear dW", in: []arg{{"x", 2}, {"dy", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			x, dy := s[0], s[1]
			if dy[0] != x[0] {
				return nil, fmt.Errorf("dy %v and x %v differ in rows", dy, x)
			}
			return tensor.Shape{dy[1], x[1]}, nil
		},
		kernel: kernel{linearDWDo[float32], linearDWDo[float64]},
	}), x, dy)
}

func linearDWDo[T Float](c *call[T]) error {
	rows, in := c.dims2(0)
	linearBackwardW(c.out, c.in[1], c.in[0], rows, in, c.shape[1][1])
	return nil
}

// columnSum computes s[C] = Σ_r dy[r,:] of dy[R,C]: the gradient of a bias
// (Linear's b, LayerNorm's and BatchNorm's beta).
func columnSum(dy *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(newOp(spec{
		name: "column sum", in: []arg{{"dy", 2}}, out: 1,
		shape:  func(s []tensor.Shape) (tensor.Shape, error) { return tensor.Shape{s[0][1]}, nil },
		kernel: kernel{colSumDo[float32], colSumDo[float64]},
	}), dy)
}

func colSumDo[T Float](c *call[T]) error {
	rows, cols := c.dims2(0)
	colSum(c.out, c.in[0], rows, cols)
	return nil
}
