package ops

import (
	"fmt"
	"hash"
	"hash/fnv"

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
// includes the op's address. Backward ops take every forward value they read
// as inputs, so the machine's liveness analysis keeps those values intact
// (Gorgonia's in-place Add would otherwise overwrite them); they also take the
// forward output where they read the forward op's cache, which orders them
// after it. CallsExtern is false even under OpenBLAS: Gorgonia would answer
// true with an allocation per step and nothing in return (its batched-BLAS
// flushes do not apply to these ops).

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

// inputs checks the values an op received: plain float32 or float64 tensors,
// all of one dtype, with the given numbers of dimensions (0 skips the check).
// names label them in errors.
func inputs(op string, vals []gorgonia.Value, names []string, dims []int) ([]*tensor.Dense, tensor.Dtype, error) {
	if len(vals) != len(names) {
		return nil, tensor.Dtype{}, fmt.Errorf("ops: %s: got %d inputs, want %d", op, len(vals), len(names))
	}
	ds := make([]*tensor.Dense, len(vals))
	for i, v := range vals {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, tensor.Dtype{}, fmt.Errorf("ops: %s: %s is a %T, want a *tensor.Dense", op, names[i], v)
		}
		if d.IsMaterializable() {
			return nil, tensor.Dtype{}, fmt.Errorf("ops: %s: %s is a view or transposed; materialize it first", op, names[i])
		}
		if dims[i] > 0 && d.Dims() != dims[i] {
			return nil, tensor.Dtype{}, fmt.Errorf("ops: %s: %s has shape %v, want %d dimensions", op, names[i], d.Shape(), dims[i])
		}
		ds[i] = d
	}
	dt := ds[0].Dtype()
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, dt, fmt.Errorf("ops: %s: %s has dtype %v, want float32 or float64", op, names[0], dt)
	}
	for i, d := range ds[1:] {
		if d.Dtype() != dt {
			return nil, dt, fmt.Errorf("ops: %s: %s is %v but %s is %v", op, names[i+1], d.Dtype(), names[0], dt)
		}
	}
	return ds, dt, nil
}

// tensorType is a tensor of the given number of dimensions over the type
// variable a, shared by all arguments of an op's function type.
func tensorType(dims int) gorgonia.TensorType {
	return gorgonia.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

// fnType is the function type taking args and returning the last of them.
func fnType(args ...hm.Type) hm.Type { return hm.NewFnType(args...) }

// writeHash writes op's description and address: see the note at the top.
func writeHash(h hash.Hash, op fmt.Stringer) { fmt.Fprintf(h, "%v@%p", op, op) }

func hashOf(op fmt.Stringer) uint32 {
	h := fnv.New32a()
	writeHash(h, op)
	return h.Sum32()
}

// opBase holds the Op answers shared by every op here (see the note at the
// top): values are returned by pointer, no input is overwritten, and no
// extern call needs Gorgonia's preallocation.
type opBase struct{}

func (opBase) ReturnsPtr() bool     { return true }
func (opBase) CallsExtern() bool    { return false }
func (opBase) OverwritesInput() int { return -1 }

// errShapes reports two values whose shapes must agree.
func errShapes(op, a string, as tensor.Shape, b string, bs tensor.Shape) error {
	return fmt.Errorf("ops: %s: %s %v does not match %s %v", op, a, as, b, bs)
}
