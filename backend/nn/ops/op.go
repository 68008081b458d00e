package ops

import (
	"fmt"
	"hash"
	"hash/fnv"
	"slices"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// How the ops sit in a TapeMachine. The machine's Reset clears its
// registers, so after every Reset each node runs Do without a preallocated
// value; Do therefore writes into a buffer the op owns and returns it, and
// UsePreallocDo writes into the machine's value when one is given (it is the
// same buffer on a run without Reset). Buffers are allocated on the first
// step and again only when a shape or dtype changes.
//
// Every op owns such buffers (and some a cache or an RNG), so two nodes must
// never share an op: Gorgonia merges nodes whose ops hash alike, so each hash
// includes the op's address as well as its name and parameters. Backward ops
// take every forward value they read as inputs, so the machine's liveness
// analysis keeps those values intact (Gorgonia's in-place Add would otherwise
// overwrite them); they also take the forward output where they read the
// forward op's cache, which orders them after it. CallsExtern is false even
// under OpenBLAS: Gorgonia would answer true with an allocation per step and
// nothing in return (its batched-BLAS flushes do not apply to these ops).
//
// An op is a spec (name, inputs, output shape, kernel) inside a fused, which
// answers everything else Gorgonia's Op and UsePreallocDoer ask. Forward ops
// embed fused in a struct holding their parameters and the caches their
// backward reads, and add DiffWRT and SymDiff; backward ops are a bare fused.

// arg is one input of an op: its name in errors and its number of
// dimensions, or anyDims or scalarArg.
type arg struct {
	name string
	dims int
}

const (
	anyDims   = 0  // a tensor of any rank (elementwise ops)
	scalarArg = -1 // a float scalar: a loss, or the gradient arriving at one
)

// spec is what differs from op to op.
type spec struct {
	name   string // in errors and String: "layernorm dx"
	params string // String adds {params}: every parameter the result depends on
	in     []arg
	out    int   // the output's dimensions, or anyDims (input 0's rank) or scalarArg
	same   []int // inputs whose shape must equal input 0's
	// shape returns the output shape from input shapes that have the
	// declared dimensions and pass same, or says why they do not fit; nil
	// means input 0's shape (a scalar for a scalar output).
	shape  func(in []tensor.Shape) (tensor.Shape, error)
	kernel kernel
}

// kernel is an op's computation for float32 and float64 values: one generic
// function instantiated twice (see bind).
type kernel struct {
	f32 func(*call[float32]) error
	f64 func(*call[float64]) error
}

// bind makes the kernel of op from a generic function's two instantiations.
func bind[O any](op O, f32 func(O, *call[float32]) error, f64 func(O, *call[float64]) error) kernel {
	return kernel{
		f32: func(c *call[float32]) error { return f32(op, c) },
		f64: func(c *call[float64]) error { return f64(op, c) },
	}
}

// call is one run of a kernel: the inputs' elements and shapes and the
// output to fill.
type call[T Float] struct {
	in    [][]T          // by input; nil for a scalar
	shape []tensor.Shape // by input; nil for a scalar
	out   []T            // the output's elements; nil for a scalar output
	grad  float64        // the last scalar input: the gradient arriving at a loss
	loss  float64        // the kernel sets it when the output is a scalar
}

// dims2 returns the rows and columns of input i, a matrix.
func (c *call[T]) dims2(i int) (rows, cols int) { return c.shape[i][0], c.shape[i][1] }

// fused implements gorgonia.Op and gorgonia.UsePreallocDoer from its spec.
type fused struct {
	spec
	y      buffer          // the output, when a tensor
	vals   []*tensor.Dense // the latest inputs, nil for scalars
	shapes []tensor.Shape  // their shapes
	grad   float64         // the latest scalar input
	// seen are the input shapes outShape was derived for, so that steady
	// steps neither recheck nor allocate.
	seen     []tensor.Shape
	outShape tensor.Shape
	c32      call[float32]
	c64      call[float64]
	loss32   gorgonia.F32 // a scalar output, reused: Gorgonia hands scalars over by pointer
	loss64   gorgonia.F64
}

// newOp returns a backward op (or any op without state of its own).
func newOp(s spec) *fused { return &fused{spec: s} }

// base gives apply the fused inside an op.
func (f *fused) base() *fused { return f }

func (f *fused) Arity() int { return len(f.in) }

func (f *fused) Type() hm.Type {
	t := make([]hm.Type, 0, len(f.in)+1)
	for _, a := range f.in {
		t = append(t, argType(a.dims))
	}
	return hm.NewFnType(append(t, argType(f.out))...)
}

// argType is a tensor of dims dimensions over the type variable a, shared by
// all arguments of an op, or a itself (any rank, or a scalar).
func argType(dims int) hm.Type {
	if dims > 0 {
		return gorgonia.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
	}
	return hm.TypeVariable('a')
}

func (f *fused) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s := make([]tensor.Shape, len(in))
	for i, d := range in {
		s[i] = d.(tensor.Shape)
	}
	out, err := f.check(s)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", f.name, err)
	}
	return out, nil
}

// check checks input shapes against the spec and returns the output shape.
func (f *fused) check(in []tensor.Shape) (tensor.Shape, error) {
	if len(in) != len(f.in) {
		return nil, fmt.Errorf("got %d inputs, want %d", len(in), len(f.in))
	}
	for i, a := range f.in {
		if a.dims > 0 && in[i].Dims() != a.dims {
			return nil, fmt.Errorf("%s %v must have %d dimensions", a.name, in[i], a.dims)
		}
	}
	for _, j := range f.same {
		if !in[j].Eq(in[0]) {
			return nil, fmt.Errorf("%s %v does not match %s %v", f.in[j].name, in[j], f.in[0].name, in[0])
		}
	}
	switch {
	case f.shape != nil:
		return f.shape(in)
	case f.out == scalarArg:
		return tensor.ScalarShape(), nil
	}
	return in[0].Clone(), nil
}

func (f *fused) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return f.UsePreallocDo(nil, vals...)
}

func (f *fused) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := f.read(vals)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", f.name, err)
	}
	if dt == tensor.Float32 {
		return run(f, &f.c32, f.kernel.f32, prealloc)
	}
	return run(f, &f.c64, f.kernel.f64, prealloc)
}

// read checks the values an op received (plain float32 or float64 tensors
// of one dtype, or float scalars where the spec says so), keeps them and
// derives the output shape. It returns the tensors' dtype.
func (f *fused) read(vals []gorgonia.Value) (tensor.Dtype, error) {
	var dt tensor.Dtype
	if len(vals) != len(f.in) {
		return dt, fmt.Errorf("got %d inputs, want %d", len(vals), len(f.in))
	}
	f.vals, f.shapes = f.vals[:0], f.shapes[:0]
	for i, v := range vals {
		name := f.in[i].name
		if f.in[i].dims == scalarArg {
			g, err := Scalar(v)
			if err != nil {
				return dt, fmt.Errorf("%s: %w", name, err)
			}
			f.grad = g
			f.vals, f.shapes = append(f.vals, nil), append(f.shapes, nil)
			continue
		}
		d, ok := v.(*tensor.Dense)
		switch {
		case !ok:
			return dt, fmt.Errorf("%s is a %T, want a *tensor.Dense", name, v)
		case d.IsMaterializable():
			return dt, fmt.Errorf("%s is a view or transposed; materialize it first", name)
		case dt == (tensor.Dtype{}):
			if dt = d.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
				return dt, fmt.Errorf("%s has dtype %v, want float32 or float64", name, dt)
			}
		case d.Dtype() != dt:
			return dt, fmt.Errorf("%s is %v but %s is %v", name, d.Dtype(), f.in[0].name, dt)
		}
		f.vals, f.shapes = append(f.vals, d), append(f.shapes, d.Shape())
	}
	if f.seen != nil && slices.EqualFunc(f.shapes, f.seen, func(a, b tensor.Shape) bool { return slices.Equal(a, b) }) {
		return dt, nil
	}
	out, err := f.check(f.shapes)
	if err != nil {
		return dt, err
	}
	f.outShape, f.seen = out, make([]tensor.Shape, len(f.shapes))
	for i, s := range f.shapes {
		f.seen[i] = s.Clone()
	}
	return dt, nil
}

// run is the one place that picks float32 or float64: it views the inputs
// and the output as []T, runs the kernel and returns the output value.
func run[T Float](f *fused, c *call[T], k func(*call[T]) error, prealloc gorgonia.Value) (gorgonia.Value, error) {
	c.in = c.in[:0]
	for _, d := range f.vals {
		c.in = append(c.in, floats[T](d))
	}
	c.shape, c.grad = f.shapes, f.grad
	var y *tensor.Dense
	c.out = nil
	if f.out != scalarArg {
		y = f.y.out(prealloc, dtype[T](), f.outShape...)
		c.out = floats[T](y)
	}
	if err := k(c); err != nil {
		return nil, fmt.Errorf("ops: %s: %w", f.name, err)
	}
	switch {
	case y != nil:
		return y, nil
	case is32[T]():
		f.loss32 = gorgonia.F32(c.loss)
		return &f.loss32, nil
	}
	f.loss64 = gorgonia.F64(c.loss)
	return &f.loss64, nil
}

func (f *fused) ReturnsPtr() bool     { return true }
func (f *fused) CallsExtern() bool    { return false }
func (f *fused) OverwritesInput() int { return -1 }

// WriteHash writes the op's name, parameters and address: see the note at
// the top.
func (f *fused) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%v@%p", f, f) }

func (f *fused) Hashcode() uint32 {
	h := fnv.New32a()
	f.WriteHash(h)
	return h.Sum32()
}

func (f *fused) String() string {
	if f.params == "" {
		return f.name
	}
	return f.name + "{" + f.params + "}"
}

// apply checks the shapes of xs against op's spec, so that a bad input gets
// an error naming it rather than a failed type inference, and adds op to
// their graph.
func apply(op interface {
	gorgonia.Op
	base() *fused
}, xs ...*gorgonia.Node) (*gorgonia.Node, error) {
	s := make([]tensor.Shape, len(xs))
	for i, x := range xs {
		s[i] = x.Shape()
	}
	if _, err := op.base().check(s); err != nil {
		return nil, fmt.Errorf("ops: %s: %w", op.base().name, err)
	}
	return gorgonia.ApplyOp(op, xs...)
}

// buffer is a tensor an op owns and reuses across steps.
type buffer struct{ d *tensor.Dense }

// get returns the buffer, (re)allocated when its dtype or shape differs.
func (b *buffer) get(dt tensor.Dtype, shape ...int) *tensor.Dense {
	if b.d == nil || b.d.Dtype() != dt || !b.d.Shape().Eq(tensor.Shape(shape)) {
		b.d = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	}
	return b.d
}

// out returns prealloc when it is a plain tensor of the right dtype and
// shape, else the op's own buffer.
func (b *buffer) out(prealloc gorgonia.Value, dt tensor.Dtype, shape ...int) *tensor.Dense {
	if p, ok := prealloc.(*tensor.Dense); ok && p.Dtype() == dt && p.Shape().Eq(tensor.Shape(shape)) && !p.IsMaterializable() {
		return p
	}
	return b.get(dt, shape...)
}

// scratch returns the elements of b, (re)allocated as a T tensor of shape.
func scratch[T Float](b *buffer, shape ...int) []T { return floats[T](b.get(dtype[T](), shape...)) }

// held returns the elements of b, a cache a forward filled with n values
// of type T, or an error saying that it holds no such forward values (what).
func held[T Float](b *buffer, n int, what string) ([]T, error) {
	if b.d == nil || b.d.Dtype() != dtype[T]() || b.d.Shape().TotalSize() != n {
		return nil, fmt.Errorf("no forward %s for %d %v values", what, n, dtype[T]())
	}
	return floats[T](b.d), nil
}

// floats returns the elements of d, whose dtype is T's, as a []T.
func floats[T Float](d *tensor.Dense) []T {
	if d == nil {
		return nil
	}
	if is32[T]() {
		return cast[T](d.Float32s())
	}
	return cast[T](d.Float64s())
}

// dtype is T's tensor dtype.
func dtype[T Float]() tensor.Dtype {
	if is32[T]() {
		return tensor.Float32
	}
	return tensor.Float64
}

// Scalar reads a float scalar value: Gorgonia's F32 or F64, or a tensor of
// one element (a loss, or a gradient seed).
func Scalar(v gorgonia.Value) (float64, error) {
	switch s := v.(type) {
	case *gorgonia.F32:
		return float64(*s), nil
	case *gorgonia.F64:
		return float64(*s), nil
	case *tensor.Dense:
		if s.Shape().TotalSize() == 1 && !s.IsMaterializable() {
			switch s.Dtype() {
			case tensor.Float32:
				return float64(s.Float32s()[0]), nil
			case tensor.Float64:
				return s.Float64s()[0], nil
			}
		}
	}
	return 0, fmt.Errorf("%v (%T) is not a float scalar", v, v)
}
