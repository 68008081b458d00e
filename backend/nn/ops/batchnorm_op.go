package ops

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BatchNormConfig sets up a BatchNorm.
type BatchNormConfig struct {
	Eps      float64 // added to the variance; PyTorch's default is 1e-5
	Momentum float64 // weight of a batch in the running statistics; PyTorch's default is 0.1
	// Groups splits the R rows into Groups blocks of R/Groups consecutive
	// rows, each normalised with its own statistics (1 when 0).
	Groups int
	// Mean and Var are the running statistics [D], PyTorch's running_mean
	// and running_var buffers: updated in place by every training forward
	// (once per group, in order) and used in evaluation. Both nil: none are
	// kept, and evaluation is refused.
	Mean, Var []float32
}

// BatchNorm normalises each column of x[R, D] over the rows, as PyTorch's
// nn.BatchNorm1d(D): in training with the batch's mean and biased
// variance (per group, see BatchNormConfig), in evaluation with the
// running statistics; then y = gamma·x̂ + beta with gamma, beta [D], or
// y = x̂ when both are nil (affine=False). The op implements
// gorgonia.TrainModeOp, so a machine built in evaluation mode uses the
// running statistics; SetTraining (this package's) leaves it alone.
func BatchNorm(x, gamma, beta *gorgonia.Node, c BatchNormConfig) (*gorgonia.Node, error) {
	xs := x.Shape()
	if xs.Dims() != 2 {
		return nil, fmt.Errorf("ops: batchnorm: x %v must be a matrix", xs)
	}
	d := xs[1]
	if (gamma == nil) != (beta == nil) {
		return nil, fmt.Errorf("ops: batchnorm: give both gamma and beta, or neither")
	}
	groups := max(c.Groups, 1)
	if !(c.Eps > 0) || !(c.Momentum >= 0 && c.Momentum <= 1) {
		return nil, fmt.Errorf("ops: batchnorm: eps %g must be positive and momentum %g within [0, 1]", c.Eps, c.Momentum)
	}
	if (c.Mean == nil) != (c.Var == nil) || (c.Mean != nil && (len(c.Mean) != d || len(c.Var) != d)) {
		return nil, fmt.Errorf("ops: batchnorm: running mean (%d) and variance (%d) must both be %d values or both absent", len(c.Mean), len(c.Var), d)
	}
	op := &batchNormOp{cfg: c, groups: groups, affine: gamma != nil}
	op.spec = spec{
		name: "batchnorm", params: fmt.Sprintf("eps=%g, momentum=%g, groups=%d, affine=%t", c.Eps, c.Momentum, groups, op.affine),
		in: []arg{{"x", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if s[0][0]%groups != 0 || s[0][0]/groups < 2 {
				return nil, fmt.Errorf("x %v: %d rows do not make %d groups of 2 or more", s[0], s[0][0], groups)
			}
			if len(s) > 1 && (s[1][0] != s[0][1] || s[2][0] != s[0][1]) {
				return nil, fmt.Errorf("gamma %v and beta %v must be vectors of %d", s[1], s[2], s[0][1])
			}
			return s[0].Clone(), nil
		},
		kernel: bind(op, batchNormDo[float32], batchNormDo[float64]),
	}
	if gamma == nil {
		return apply(op, x)
	}
	op.in = append(op.in, arg{"gamma", 1}, arg{"beta", 1})
	return apply(op, x, gamma, beta)
}

type batchNormOp struct {
	fused
	cfg    BatchNormConfig
	groups int
	affine bool
	eval   bool // the zero value trains, as a fresh PyTorch module does

	mean, rstd buffer // [groups, D] of the latest forward ([1, D] in evaluation)
	vari       []float64
	batch      bool // whether the latest forward used batch statistics
}

// SetTraining switches between batch statistics (training) and the running
// ones. It implements gorgonia.TrainModeOp.
func (op *batchNormOp) SetTraining(on bool) error {
	op.eval = !on
	return nil
}

// batchNormDo is the forward: statistics (batch or running), the running
// update in training, then the normalisation.
func batchNormDo[T Float](op *batchNormOp, c *call[T]) error {
	rows, d := c.dims2(0)
	s := bnShape{rows: rows, cols: d, groups: op.groups}
	op.batch = !op.eval
	if op.eval {
		if op.cfg.Mean == nil {
			return fmt.Errorf("evaluation without running statistics")
		}
		s.groups = 1
	}
	var gamma, beta []T
	if op.affine {
		gamma, beta = c.in[1], c.in[2]
	}
	mean, rstd := scratch[T](&op.mean, s.groups, d), scratch[T](&op.rstd, s.groups, d)
	cfg := op.cfg
	if op.batch {
		if n := s.groups * s.cols; len(op.vari) != n {
			op.vari = make([]float64, n)
		}
		batchNormStats(mean, rstd, op.vari, c.in[0], s, cfg.Eps)
		if cfg.Mean != nil {
			updateRunning(cfg.Mean, cfg.Var, mean, op.vari, s, cfg.Momentum)
		}
	} else {
		for j := range mean {
			mean[j] = T(cfg.Mean[j])
			rstd[j] = T(1 / math.Sqrt(float64(cfg.Var[j])+cfg.Eps))
		}
	}
	batchNormApply(c.out, c.in[0], mean, rstd, gamma, beta, s)
	return nil
}

func (op *batchNormOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff builds dx from (x, [gamma,] y, dy) and, when affine, dgamma =
// Σ_rows dy·x̂ from (x, y, dy), y ordering both after the forward whose
// statistics they read, and dbeta as dy's column sums.
func (op *batchNormOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	x := in[0]
	dxSpec := spec{
		name: "batchnorm dx", in: []arg{{"x", 2}, {"y", 2}, {"dy", 2}}, out: 2, same: []int{2},
		kernel: bind(op, batchNormDXDo[float32], batchNormDXDo[float64]),
	}
	args := gorgonia.Nodes{x, output, grad}
	if op.affine {
		dxSpec.in, dxSpec.same = []arg{{"x", 2}, {"gamma", 1}, {"y", 2}, {"dy", 2}}, []int{3}
		args = gorgonia.Nodes{x, in[1], output, grad}
	}
	dx, err := apply(newOp(dxSpec), args...)
	if !op.affine || err != nil {
		return gorgonia.Nodes{dx}, err
	}
	dgamma, errG := apply(newOp(spec{
		name: "batchnorm dgamma", in: []arg{{"x", 2}, {"y", 2}, {"dy", 2}}, out: 1, same: []int{2},
		shape:  func(s []tensor.Shape) (tensor.Shape, error) { return tensor.Shape{s[0][1]}, nil },
		kernel: bind(op, batchNormDGammaDo[float32], batchNormDGammaDo[float64]),
	}), x, output, grad)
	dbeta, errB := columnSum(grad)
	return gorgonia.Nodes{dx, dgamma, dbeta}, errors.Join(errG, errB)
}

// bnStats returns the forward's statistics for x of the given shape.
func bnStats[T Float](op *batchNormOp, rows, cols int) (mean, rstd []T, s bnShape, err error) {
	m := op.mean.d
	if m == nil || m.Dims() != 2 || m.Shape()[1] != cols {
		return nil, nil, s, fmt.Errorf("no forward statistics for %d columns", cols)
	}
	s = bnShape{rows: rows, cols: cols, groups: m.Shape()[0]}
	if mean, err = held[T](&op.mean, s.groups*cols, "means"); err != nil {
		return nil, nil, s, err
	}
	rstd, err = held[T](&op.rstd, s.groups*cols, "deviations")
	return mean, rstd, s, err
}

func batchNormDXDo[T Float](op *batchNormOp, c *call[T]) error {
	rows, cols := c.dims2(0)
	mean, rstd, s, err := bnStats[T](op, rows, cols)
	if err != nil {
		return err
	}
	var gamma []T
	if op.affine {
		gamma = c.in[1]
	}
	dx, dy := c.out, c.in[len(c.in)-1]
	if op.batch {
		batchNormBackwardX(dx, dy, c.in[0], mean, rstd, gamma, s)
	} else {
		batchNormBackwardXFixed(dx, dy, rstd, gamma, rows, cols)
	}
	return nil
}

func batchNormDGammaDo[T Float](op *batchNormOp, c *call[T]) error {
	rows, cols := c.dims2(0)
	mean, rstd, s, err := bnStats[T](op, rows, cols)
	if err != nil {
		return err
	}
	batchNormBackwardGamma(c.out, c.in[2], c.in[0], mean, rstd, s)
	return nil
}
