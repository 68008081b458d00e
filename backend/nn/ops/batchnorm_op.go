package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
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
	if gamma != nil {
		if gs, bs := gamma.Shape(), beta.Shape(); gs.Dims() != 1 || gs[0] != d || bs.Dims() != 1 || bs[0] != d {
			return nil, fmt.Errorf("ops: batchnorm: gamma %v and beta %v must be vectors of %d", gs, bs, d)
		}
	}
	groups := max(c.Groups, 1)
	if xs[0]%groups != 0 || xs[0]/groups < 2 {
		return nil, fmt.Errorf("ops: batchnorm: x %v: %d rows do not make %d groups of 2 or more", xs, xs[0], groups)
	}
	if !(c.Eps > 0) || !(c.Momentum >= 0 && c.Momentum <= 1) {
		return nil, fmt.Errorf("ops: batchnorm: eps %g must be positive and momentum %g within [0, 1]", c.Eps, c.Momentum)
	}
	if (c.Mean == nil) != (c.Var == nil) || (c.Mean != nil && (len(c.Mean) != d || len(c.Var) != d)) {
		return nil, fmt.Errorf("ops: batchnorm: running mean (%d) and variance (%d) must both be %d values or both absent", len(c.Mean), len(c.Var), d)
	}
	op := &batchNormOp{cfg: c, groups: groups, affine: gamma != nil}
	if gamma == nil {
		return gorgonia.ApplyOp(op, x)
	}
	return gorgonia.ApplyOp(op, x, gamma, beta)
}

type batchNormOp struct {
	opBase
	cfg    BatchNormConfig
	groups int
	affine bool
	eval   bool // the zero value trains, as a fresh PyTorch module does

	y          buffer
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

func (op *batchNormOp) Arity() int {
	if op.affine {
		return 3
	}
	return 1
}
func (op *batchNormOp) Type() hm.Type {
	if op.affine {
		return fnType(tensorType(2), tensorType(1), tensorType(1), tensorType(2))
	}
	return fnType(tensorType(2), tensorType(2))
}
func (op *batchNormOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *batchNormOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

// names and dims of the op's inputs.
func (op *batchNormOp) inputNames() ([]string, []int) {
	if op.affine {
		return []string{"x", "gamma", "beta"}, []int{2, 1, 1}
	}
	return []string{"x"}, []int{2}
}

func (op *batchNormOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	names, dims := op.inputNames()
	ds, dt, err := inputs("batchnorm", vals, names, dims)
	if err != nil {
		return nil, err
	}
	x := ds[0]
	rows, d := x.Shape()[0], x.Shape()[1]
	var gamma, beta *tensor.Dense
	if op.affine {
		gamma, beta = ds[1], ds[2]
		if gamma.Shape()[0] != d || beta.Shape()[0] != d {
			return nil, fmt.Errorf("ops: batchnorm: gamma %v and beta %v must be vectors of %d", gamma.Shape(), beta.Shape(), d)
		}
	}
	s := bnShape{rows: rows, cols: d, groups: op.groups}
	if rows%op.groups != 0 || rows/op.groups < 2 {
		return nil, fmt.Errorf("ops: batchnorm: x %v: %d rows do not make %d groups of 2 or more", x.Shape(), rows, op.groups)
	}
	op.batch = !op.eval
	if op.eval {
		if op.cfg.Mean == nil {
			return nil, fmt.Errorf("ops: batchnorm: evaluation without running statistics")
		}
		s.groups = 1
	}
	y := op.y.out(prealloc, dt, rows, d)
	mean, rstd := op.mean.get(dt, s.groups, d), op.rstd.get(dt, s.groups, d)
	if dt == tensor.Float32 {
		batchNormDo(op, floats[float32](y), floats[float32](x), floats[float32](mean), floats[float32](rstd), floats[float32](gamma), floats[float32](beta), s)
	} else {
		batchNormDo(op, floats[float64](y), floats[float64](x), floats[float64](mean), floats[float64](rstd), floats[float64](gamma), floats[float64](beta), s)
	}
	return y, nil
}

// batchNormDo is the forward: statistics (batch or running), the running
// update in training, then the normalisation.
func batchNormDo[T Float](op *batchNormOp, y, x, mean, rstd, gamma, beta []T, s bnShape) {
	c := op.cfg
	if op.batch {
		if n := s.groups * s.cols; len(op.vari) != n {
			op.vari = make([]float64, n)
		}
		batchNormStats(mean, rstd, op.vari, x, s, c.Eps)
		if c.Mean != nil {
			updateRunning(c.Mean, c.Var, mean, op.vari, s, c.Momentum)
		}
	} else {
		for j := range mean {
			mean[j] = T(c.Mean[j])
			rstd[j] = T(1 / math.Sqrt(float64(c.Var[j])+c.Eps))
		}
	}
	batchNormApply(y, x, mean, rstd, gamma, beta, bnShape{rows: s.rows, cols: s.cols, groups: len(mean) / s.cols})
}

func (op *batchNormOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op *batchNormOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	x := in[0]
	args := gorgonia.Nodes{x}
	if op.affine {
		args = append(args, in[1])
	}
	dx, err := gorgonia.ApplyOp(&batchNormDXOp{fwd: op}, append(args, output, grad)...)
	if err != nil {
		return nil, err
	}
	if !op.affine {
		return gorgonia.Nodes{dx}, nil
	}
	dgamma, err := gorgonia.ApplyOp(&batchNormDGammaOp{fwd: op}, x, output, grad)
	if err != nil {
		return nil, err
	}
	dbeta, err := gorgonia.ApplyOp(&colSumOp{}, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dgamma, dbeta}, nil
}

func (op *batchNormOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *batchNormOp) Hashcode() uint32      { return hashOf(op) }
func (op *batchNormOp) String() string {
	return fmt.Sprintf("BatchNorm{groups=%d, affine=%t}", op.groups, op.affine)
}

// stats returns the forward's statistics for x of the given shape and dtype.
func (op *batchNormOp) stats(name string, dt tensor.Dtype, rows, cols int) (mean, rstd *tensor.Dense, s bnShape, err error) {
	mean, rstd = op.mean.d, op.rstd.d
	if mean == nil || mean.Dtype() != dt || mean.Shape()[1] != cols {
		return nil, nil, s, fmt.Errorf("ops: %s: no forward statistics for %d %v columns", name, cols, dt)
	}
	return mean, rstd, bnShape{rows: rows, cols: cols, groups: mean.Shape()[0]}, nil
}

// batchNormDXOp computes dx from inputs (x, [gamma,] y, dy), y ordering it
// after the forward whose statistics it reads.
type batchNormDXOp struct {
	opBase
	fwd *batchNormOp
	dx  buffer
}

func (op *batchNormDXOp) Arity() int {
	if op.fwd.affine {
		return 4
	}
	return 3
}
func (op *batchNormDXOp) Type() hm.Type {
	if op.fwd.affine {
		return fnType(tensorType(2), tensorType(1), tensorType(2), tensorType(2), tensorType(2))
	}
	return fnType(tensorType(2), tensorType(2), tensorType(2), tensorType(2))
}
func (op *batchNormDXOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *batchNormDXOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *batchNormDXOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	names, dims := []string{"x", "y", "dy"}, []int{2, 2, 2}
	if op.fwd.affine {
		names, dims = []string{"x", "gamma", "y", "dy"}, []int{2, 1, 2, 2}
	}
	ds, dt, err := inputs("batchnorm dx", vals, names, dims)
	if err != nil {
		return nil, err
	}
	x, dy := ds[0], ds[len(ds)-1]
	var gamma *tensor.Dense
	if op.fwd.affine {
		gamma = ds[1]
	}
	if !dy.Shape().Eq(x.Shape()) {
		return nil, errShapes("batchnorm dx", "dy", dy.Shape(), "x", x.Shape())
	}
	rows, cols := x.Shape()[0], x.Shape()[1]
	mean, rstd, s, err := op.fwd.stats("batchnorm dx", dt, rows, cols)
	if err != nil {
		return nil, err
	}
	dx := op.dx.out(prealloc, dt, rows, cols)
	if dt == tensor.Float32 {
		batchNormDX(op.fwd.batch, floats[float32](dx), floats[float32](dy), floats[float32](x), floats[float32](mean), floats[float32](rstd), floats[float32](gamma), s)
	} else {
		batchNormDX(op.fwd.batch, floats[float64](dx), floats[float64](dy), floats[float64](x), floats[float64](mean), floats[float64](rstd), floats[float64](gamma), s)
	}
	return dx, nil
}
func (op *batchNormDXOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *batchNormDXOp) Hashcode() uint32      { return hashOf(op) }
func (op *batchNormDXOp) String() string        { return "BatchNormDx" }

func batchNormDX[T Float](batch bool, dx, dy, x, mean, rstd, gamma []T, s bnShape) {
	if batch {
		batchNormBackwardX(dx, dy, x, mean, rstd, gamma, s)
	} else {
		batchNormBackwardXFixed(dx, dy, rstd, gamma, s.rows, s.cols)
	}
}

// batchNormDGammaOp computes dgamma[D] = Σ_rows dy·x̂ from inputs (x, y, dy).
type batchNormDGammaOp struct {
	opBase
	fwd *batchNormOp
	dg  buffer
}

func (op *batchNormDGammaOp) Arity() int { return 3 }
func (op *batchNormDGammaOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2), tensorType(1))
}
func (op *batchNormDGammaOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}
func (op *batchNormDGammaOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *batchNormDGammaOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("batchnorm dgamma", vals, []string{"x", "y", "dy"}, []int{2, 2, 2})
	if err != nil {
		return nil, err
	}
	x, dy := ds[0], ds[2]
	if !dy.Shape().Eq(x.Shape()) {
		return nil, errShapes("batchnorm dgamma", "dy", dy.Shape(), "x", x.Shape())
	}
	rows, cols := x.Shape()[0], x.Shape()[1]
	mean, rstd, s, err := op.fwd.stats("batchnorm dgamma", dt, rows, cols)
	if err != nil {
		return nil, err
	}
	dg := op.dg.out(prealloc, dt, cols)
	if dt == tensor.Float32 {
		batchNormBackwardGamma(floats[float32](dg), floats[float32](dy), floats[float32](x), floats[float32](mean), floats[float32](rstd), s)
	} else {
		batchNormBackwardGamma(floats[float64](dg), floats[float64](dy), floats[float64](x), floats[float64](mean), floats[float64](rstd), s)
	}
	return dg, nil
}
func (op *batchNormDGammaOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *batchNormDGammaOp) Hashcode() uint32      { return hashOf(op) }
func (op *batchNormDGammaOp) String() string        { return "BatchNormDGamma(x, y, dy)" }
