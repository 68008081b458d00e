package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Patchify cuts images[N,C,H,W] into non-overlapping patch×patch squares,
// one row of C*patch*patch values per patch: [N*P, C*patch*patch] with
// P = (H/patch)·(W/patch), the grid in row-major order and each row ordered
// (channel, ky, kx). A Linear with the Conv2d weight (D, C, patch, patch)
// reshaped to (D, C*patch*patch) then computes timm's PatchEmbed. The images
// carry no gradient.
func Patchify(images *gorgonia.Node, patch int) (*gorgonia.Node, error) {
	s := images.Shape()
	if s.Dims() != 4 {
		return nil, fmt.Errorf("ops: patchify: images %v must be [N, C, H, W]", s)
	}
	if patch <= 0 || s[2]%patch != 0 || s[3]%patch != 0 {
		return nil, fmt.Errorf("ops: patchify: images %v do not tile into %d-pixel patches", s, patch)
	}
	return gorgonia.ApplyOp(&patchifyOp{patch: patch}, images)
}

type patchifyOp struct {
	opBase
	patch int
	out   buffer
}

func (op *patchifyOp) Arity() int    { return 1 }
func (op *patchifyOp) Type() hm.Type { return fnType(tensorType(4), tensorType(2)) }
func (op *patchifyOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, ps := in[0].(tensor.Shape), op.patch
	return tensor.Shape{s[0] * (s[2] / ps) * (s[3] / ps), s[1] * ps * ps}, nil
}
func (op *patchifyOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *patchifyOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("patchify", vals, []string{"images"}, []int{4})
	if err != nil {
		return nil, err
	}
	im := ds[0]
	s, ps := im.Shape(), op.patch
	n, c, h, w := s[0], s[1], s[2], s[3]
	if h%ps != 0 || w%ps != 0 {
		return nil, fmt.Errorf("ops: patchify: images %v do not tile into %d-pixel patches", s, ps)
	}
	out := op.out.out(prealloc, dt, n*(h/ps)*(w/ps), c*ps*ps)
	if dt == tensor.Float32 {
		patchify(floats[float32](out), floats[float32](im), n, c, h, w, ps)
	} else {
		patchify(floats[float64](out), floats[float64](im), n, c, h, w, ps)
	}
	return out, nil
}

// DiffWRT and SymDiff mark the op as a gradient sink: images are data.
func (op *patchifyOp) DiffWRT(n int) []bool { return []bool{false} }
func (op *patchifyOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return gorgonia.Nodes{nil}, nil
}
func (op *patchifyOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *patchifyOp) Hashcode() uint32      { return hashOf(op) }
func (op *patchifyOp) String() string        { return fmt.Sprintf("Patchify{%d}", op.patch) }

// Tokens assembles the ViT input sequence from patch embeddings
// patches[N*P, D], the class token cls[1, D] and the position embeddings
// pos[P+1, D] (timm's cls_token and pos_embed without their leading 1):
// per image, CLS first, x = [cls; patches] + pos, shape [N*(P+1), D].
func Tokens(patches, cls, pos *gorgonia.Node) (*gorgonia.Node, error) {
	ps, cs, qs := patches.Shape(), cls.Shape(), pos.Shape()
	if ps.Dims() != 2 || cs.Dims() != 2 || qs.Dims() != 2 {
		return nil, fmt.Errorf("ops: tokens: patches %v, cls %v and pos %v must be matrices", ps, cs, qs)
	}
	d, p := ps[1], qs[0]-1
	if cs[0] != 1 || cs[1] != d || qs[1] != d || p < 1 {
		return nil, fmt.Errorf("ops: tokens: want cls [1 %d] and pos [P+1 %d], got cls %v, pos %v", d, d, cs, qs)
	}
	if ps[0]%p != 0 {
		return nil, fmt.Errorf("ops: tokens: %d patch rows are not whole images of %d patches (pos %v)", ps[0], p, qs)
	}
	return gorgonia.ApplyOp(&tokensOp{}, patches, cls, pos)
}

type tokensOp struct {
	opBase
	x buffer
}

func (op *tokensOp) Arity() int { return 3 }
func (op *tokensOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2), tensorType(2))
}
func (op *tokensOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	ps, qs := in[0].(tensor.Shape), in[2].(tensor.Shape)
	return tensor.Shape{ps[0] / (qs[0] - 1) * qs[0], ps[1]}, nil
}
func (op *tokensOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *tokensOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("tokens", vals, []string{"patches", "cls", "pos"}, []int{2, 2, 2})
	if err != nil {
		return nil, err
	}
	patches, cls, pos := ds[0], ds[1], ds[2]
	d, p := patches.Shape()[1], pos.Shape()[0]-1
	if cls.Shape().TotalSize() != d || pos.Shape()[1] != d || p < 1 || patches.Shape()[0]%p != 0 {
		return nil, fmt.Errorf("ops: tokens: patches %v, cls %v and pos %v do not fit", patches.Shape(), cls.Shape(), pos.Shape())
	}
	n := patches.Shape()[0] / p
	x := op.x.out(prealloc, dt, n*(p+1), d)
	if dt == tensor.Float32 {
		tokensForward(floats[float32](x), floats[float32](patches), floats[float32](cls), floats[float32](pos), n, p, d)
	} else {
		tokensForward(floats[float64](x), floats[float64](patches), floats[float64](cls), floats[float64](pos), n, p, d)
	}
	return x, nil
}
func (op *tokensOp) DiffWRT(n int) []bool { return []bool{true, true, true} }
func (op *tokensOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	p := in[2].Shape()[0] - 1
	grads := make(gorgonia.Nodes, 3)
	for part := range grads {
		var err error
		if grads[part], err = gorgonia.ApplyOp(&tokensDiffOp{part: part, p: p}, grad); err != nil {
			return nil, err
		}
	}
	return grads, nil
}
func (op *tokensOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *tokensOp) Hashcode() uint32      { return hashOf(op) }
func (op *tokensOp) String() string        { return "Tokens(patches, cls, pos)" }

// Parts of the token sequence a tokensDiffOp returns the gradient of.
const (
	partPatches = iota
	partCLS
	partPos
)

// tokensDiffOp computes, from dx[N*(P+1), D], the gradient of one input of
// Tokens: the patch rows, or the batch sums for cls and pos.
type tokensDiffOp struct {
	opBase
	part int
	p    int // patches per image
	d    buffer
}

func (op *tokensDiffOp) Arity() int    { return 1 }
func (op *tokensDiffOp) Type() hm.Type { return fnType(tensorType(2), tensorType(2)) }
func (op *tokensDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return op.outShape(s[0]/(op.p+1), s[1]), nil
}
func (op *tokensDiffOp) outShape(n, d int) tensor.Shape {
	switch op.part {
	case partPatches:
		return tensor.Shape{n * op.p, d}
	case partCLS:
		return tensor.Shape{1, d}
	default:
		return tensor.Shape{op.p + 1, d}
	}
}
func (op *tokensDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *tokensDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs(op.String(), vals, []string{"dx"}, []int{2})
	if err != nil {
		return nil, err
	}
	dx := ds[0]
	t, d := op.p+1, dx.Shape()[1]
	if dx.Shape()[0]%t != 0 {
		return nil, fmt.Errorf("ops: %v: dx %v is not whole sequences of %d tokens", op, dx.Shape(), t)
	}
	n := dx.Shape()[0] / t
	out := op.d.out(prealloc, dt, op.outShape(n, d)...)
	if dt == tensor.Float32 {
		tokensBackward(op.part, floats[float32](out), floats[float32](dx), n, op.p, d)
	} else {
		tokensBackward(op.part, floats[float64](out), floats[float64](dx), n, op.p, d)
	}
	return out, nil
}
func (op *tokensDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *tokensDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *tokensDiffOp) String() string {
	return [...]string{"TokensDpatches", "TokensDcls", "TokensDpos"}[op.part]
}

func tokensBackward[T Float](part int, out, dx []T, n, p, d int) {
	switch part {
	case partPatches:
		tokensBackwardPatches(out, dx, n, p, d)
	case partCLS:
		tokensBackwardCLS(out, dx, n, p, d)
	default:
		tokensBackwardPos(out, dx, n, p, d)
	}
}

// SelectCLS returns the class-token rows [N, D] of x[N*T, D], sequences of
// T tokens with the class token first.
func SelectCLS(x *gorgonia.Node, tokens int) (*gorgonia.Node, error) {
	s := x.Shape()
	if s.Dims() != 2 || tokens <= 0 || s[0]%tokens != 0 {
		return nil, fmt.Errorf("ops: select cls: x %v is not a matrix of sequences of %d tokens", s, tokens)
	}
	return gorgonia.ApplyOp(&selectCLSOp{tokens: tokens}, x)
}

type selectCLSOp struct {
	opBase
	tokens int
	y      buffer
}

func (op *selectCLSOp) Arity() int    { return 1 }
func (op *selectCLSOp) Type() hm.Type { return fnType(tensorType(2), tensorType(2)) }
func (op *selectCLSOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[0] / op.tokens, s[1]}, nil
}
func (op *selectCLSOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *selectCLSOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("select cls", vals, []string{"x"}, []int{2})
	if err != nil {
		return nil, err
	}
	x := ds[0]
	rows, d := x.Shape()[0], x.Shape()[1]
	if rows%op.tokens != 0 {
		return nil, fmt.Errorf("ops: select cls: x %v is not sequences of %d tokens", x.Shape(), op.tokens)
	}
	n := rows / op.tokens
	y := op.y.out(prealloc, dt, n, d)
	if dt == tensor.Float32 {
		selectCLSForward(floats[float32](y), floats[float32](x), n, op.tokens, d)
	} else {
		selectCLSForward(floats[float64](y), floats[float64](x), n, op.tokens, d)
	}
	return y, nil
}
func (op *selectCLSOp) DiffWRT(n int) []bool { return []bool{true} }
func (op *selectCLSOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(&selectCLSDiffOp{tokens: op.tokens}, grad)
	return gorgonia.Nodes{dx}, err
}
func (op *selectCLSOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *selectCLSOp) Hashcode() uint32      { return hashOf(op) }
func (op *selectCLSOp) String() string        { return fmt.Sprintf("SelectCLS{tokens=%d}", op.tokens) }

// selectCLSDiffOp scatters dy[N, D] into the class rows of dx[N*T, D].
type selectCLSDiffOp struct {
	opBase
	tokens int
	dx     buffer
}

func (op *selectCLSDiffOp) Arity() int    { return 1 }
func (op *selectCLSDiffOp) Type() hm.Type { return fnType(tensorType(2), tensorType(2)) }
func (op *selectCLSDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[0] * op.tokens, s[1]}, nil
}
func (op *selectCLSDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *selectCLSDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("select cls dx", vals, []string{"dy"}, []int{2})
	if err != nil {
		return nil, err
	}
	dy := ds[0]
	n, d := dy.Shape()[0], dy.Shape()[1]
	dx := op.dx.out(prealloc, dt, n*op.tokens, d)
	if dt == tensor.Float32 {
		selectCLSBackward(floats[float32](dx), floats[float32](dy), n, op.tokens, d)
	} else {
		selectCLSBackward(floats[float64](dx), floats[float64](dy), n, op.tokens, d)
	}
	return dx, nil
}
func (op *selectCLSDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *selectCLSDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *selectCLSDiffOp) String() string        { return fmt.Sprintf("SelectCLSDx{tokens=%d}", op.tokens) }
