package ops

import (
	"errors"
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LayerNormEps is the epsilon of timm's ViT LayerNorm (PyTorch's default is 1e-5).
const LayerNormEps = 1e-6

// LayerNorm normalises each row of x[R,D] over its D features, then scales
// by gamma[D] and shifts by beta[D], as PyTorch's nn.LayerNorm(D, eps). It
// keeps each row's mean and 1/sqrt(var+eps) for the backward.
func LayerNorm(x, gamma, beta *gorgonia.Node, eps float64) (*gorgonia.Node, error) {
	if !(eps > 0) {
		return nil, fmt.Errorf("ops: layernorm: eps %g must be positive", eps)
	}
	op := &layerNormOp{eps: eps}
	op.spec = spec{
		name: "layernorm", params: fmt.Sprintf("eps=%g", eps),
		in: []arg{{"x", 2}, {"gamma", 1}, {"beta", 1}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if d := s[0][1]; s[1][0] != d || s[2][0] != d {
				return nil, fmt.Errorf("gamma %v and beta %v must be vectors of %d", s[1], s[2], d)
			}
			return s[0].Clone(), nil
		},
		kernel: bind(op, layerNormDo[float32], layerNormDo[float64]),
	}
	return apply(op, x, gamma, beta)
}

type layerNormOp struct {
	fused
	eps        float64
	mean, rstd buffer // per-row statistics of the latest forward
}

func layerNormDo[T Float](op *layerNormOp, c *call[T]) error {
	rows, d := c.dims2(0)
	mean, rstd := scratch[T](&op.mean, rows), scratch[T](&op.rstd, rows)
	layerNormForward(c.out, mean, rstd, c.in[0], c.in[1], c.in[2], rows, d, T(op.eps))
	return nil
}

func (op *layerNormOp) DiffWRT(n int) []bool { return []bool{true, true, true} }

// SymDiff builds dx from (x, gamma, y, dy) and dgamma = Σ_r dy·x̂ from
// (x, y, dy), y ordering both after the forward whose statistics they read,
// and dbeta as dy's column sums.
func (op *layerNormOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	x, gamma := in[0], in[1]
	dx, errX := apply(newOp(spec{
		name: "layernorm dx", in: []arg{{"x", 2}, {"gamma", 1}, {"y", 2}, {"dy", 2}}, out: 2, same: []int{3},
		kernel: bind(op, layerNormDXDo[float32], layerNormDXDo[float64]),
	}), x, gamma, output, grad)
	dgamma, errG := apply(newOp(spec{
		name: "layernorm dgamma", in: []arg{{"x", 2}, {"y", 2}, {"dy", 2}}, out: 1, same: []int{2},
		shape:  func(s []tensor.Shape) (tensor.Shape, error) { return tensor.Shape{s[0][1]}, nil },
		kernel: bind(op, layerNormDGammaDo[float32], layerNormDGammaDo[float64]),
	}), x, output, grad)
	dbeta, errB := columnSum(grad)
	return gorgonia.Nodes{dx, dgamma, dbeta}, errors.Join(errX, errG, errB)
}

// stats returns the forward's statistics for rows rows.
func stats[T Float](op *layerNormOp, rows int) (mean, rstd []T, err error) {
	mean, err = held[T](&op.mean, rows, "means")
	if err != nil {
		return nil, nil, err
	}
	rstd, err = held[T](&op.rstd, rows, "deviations")
	return mean, rstd, err
}

func layerNormDXDo[T Float](op *layerNormOp, c *call[T]) error {
	rows, d := c.dims2(0)
	mean, rstd, err := stats[T](op, rows)
	if err != nil {
		return err
	}
	layerNormBackwardX(c.out, c.in[3], c.in[0], mean, rstd, c.in[1], rows, d)
	return nil
}

func layerNormDGammaDo[T Float](op *layerNormOp, c *call[T]) error {
	rows, d := c.dims2(0)
	mean, rstd, err := stats[T](op, rows)
	if err != nil {
		return err
	}
	layerNormBackwardGamma(c.out, c.in[2], c.in[0], mean, rstd, rows, d)
	return nil
}
