package ops

import (
	"errors"
	"fmt"

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
	op := &patchifyOp{patch: patch}
	op.spec = spec{
		name: "patchify", params: fmt.Sprint(patch), in: []arg{{"images", 4}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			im, ps := s[0], patch
			if ps <= 0 || im[2]%ps != 0 || im[3]%ps != 0 {
				return nil, fmt.Errorf("images %v do not tile into %d-pixel patches", im, ps)
			}
			return tensor.Shape{im[0] * (im[2] / ps) * (im[3] / ps), im[1] * ps * ps}, nil
		},
		kernel: bind(op, patchifyDo[float32], patchifyDo[float64]),
	}
	return apply(op, images)
}

type patchifyOp struct {
	fused
	patch int
}

func patchifyDo[T Float](op *patchifyOp, c *call[T]) error {
	s := c.shape[0]
	patchify(c.out, c.in[0], s[0], s[1], s[2], s[3], op.patch)
	return nil
}

// DiffWRT and SymDiff mark the op as a gradient sink: images are data.
func (op *patchifyOp) DiffWRT(n int) []bool { return []bool{false} }
func (op *patchifyOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return gorgonia.Nodes{nil}, nil
}

// Tokens assembles the ViT input sequence from patch embeddings
// patches[N*P, D], the class token cls[1, D] and the position embeddings
// pos[P+1, D] (timm's cls_token and pos_embed without their leading 1):
// per image, CLS first, x = [cls; patches] + pos, shape [N*(P+1), D].
func Tokens(patches, cls, pos *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(&tokensOp{fused{spec: spec{
		name: "tokens", in: []arg{{"patches", 2}, {"cls", 2}, {"pos", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			ps, cs, qs := s[0], s[1], s[2]
			d, p := ps[1], qs[0]-1
			if cs[0] != 1 || cs[1] != d || qs[1] != d || p < 1 {
				return nil, fmt.Errorf("want cls [1 %d] and pos [P+1 %d], got cls %v, pos %v", d, d, cs, qs)
			}
			if ps[0]%p != 0 {
				return nil, fmt.Errorf("%d patch rows are not whole images of %d patches (pos %v)", ps[0], p, qs)
			}
			return tensor.Shape{ps[0] / p * (p + 1), d}, nil
		},
		kernel: kernel{tokensDo[float32], tokensDo[float64]},
	}}}, patches, cls, pos)
}

type tokensOp struct{ fused }

func tokensDo[T Float](c *call[T]) error {
	rows, d := c.dims2(0)
	p := c.shape[2][0] - 1
	tokensForward(c.out, c.in[0], c.in[1], c.in[2], rows/p, p, d)
	return nil
}

func (op *tokensOp) DiffWRT(n int) []bool { return []bool{true, true, true} }

// SymDiff builds, from dx[N*(P+1), D], the gradient of each input: the
// patch rows, and the batch sums for cls and pos.
func (op *tokensOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	p := in[2].Shape()[0] - 1
	grads := make(gorgonia.Nodes, 3)
	errs := make([]error, 3)
	for part := range grads {
		grads[part], errs[part] = tokensDiff(tokensPart{part: part, p: p}, grad)
	}
	return grads, errors.Join(errs...)
}

// Parts of the token sequence a tokensPart names.
const (
	partPatches = iota
	partCLS
	partPos
)

// tokensPart is one input of Tokens, among sequences of p patches.
type tokensPart struct{ part, p int }

// shape is the part's gradient's shape for n sequences of width d.
func (t tokensPart) shape(n, d int) tensor.Shape {
	switch t.part {
	case partPatches:
		return tensor.Shape{n * t.p, d}
	case partCLS:
		return tensor.Shape{1, d}
	default:
		return tensor.Shape{t.p + 1, d}
	}
}

// tokensDiff builds the gradient of one part from dx[N*(P+1), D].
func tokensDiff(t tokensPart, dx *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(newOp(spec{
		name:   [...]string{"tokens dpatches", "tokens dcls", "tokens dpos"}[t.part],
		params: fmt.Sprintf("patches=%d", t.p), in: []arg{{"dx", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if s[0][0]%(t.p+1) != 0 {
				return nil, fmt.Errorf("dx %v is not whole sequences of %d tokens", s[0], t.p+1)
			}
			return t.shape(s[0][0]/(t.p+1), s[0][1]), nil
		},
		kernel: bind(t, tokensDiffDo[float32], tokensDiffDo[float64]),
	}), dx)
}

func tokensDiffDo[T Float](t tokensPart, c *call[T]) error {
	rows, d := c.dims2(0)
	n := rows / (t.p + 1)
	switch t.part {
	case partPatches:
		tokensBackwardPatches(c.out, c.in[0], n, t.p, d)
	case partCLS:
		tokensBackwardCLS(c.out, c.in[0], n, t.p, d)
	default:
		tokensBackwardPos(c.out, c.in[0], n, t.p, d)
	}
	return nil
}

// SelectCLS returns the class-token rows [N, D] of x[N*T, D], sequences of
// T tokens with the class token first.
func SelectCLS(x *gorgonia.Node, tokens int) (*gorgonia.Node, error) {
	if s := x.Shape(); s.Dims() != 2 || tokens <= 0 || s[0]%tokens != 0 {
		return nil, fmt.Errorf("ops: select cls: x %v is not a matrix of sequences of %d tokens", s, tokens)
	}
	return apply(&selectCLSOp{fused{spec: spec{
		name: "select cls", params: fmt.Sprintf("tokens=%d", tokens), in: []arg{{"x", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if s[0][0]%tokens != 0 {
				return nil, fmt.Errorf("x %v is not sequences of %d tokens", s[0], tokens)
			}
			return tensor.Shape{s[0][0] / tokens, s[0][1]}, nil
		},
		kernel: bind(tokens, selectCLSDo[float32], selectCLSDo[float64]),
	}}, tokens}, x)
}

type selectCLSOp struct {
	fused
	tokens int
}

func selectCLSDo[T Float](tokens int, c *call[T]) error {
	rows, d := c.dims2(0)
	selectCLSForward(c.out, c.in[0], rows/tokens, tokens, d)
	return nil
}

func (op *selectCLSOp) DiffWRT(n int) []bool { return []bool{true} }

// SymDiff scatters dy[N, D] into the class rows of dx[N*T, D].
func (op *selectCLSOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := apply(newOp(spec{
		name: "select cls dx", params: op.params, in: []arg{{"dy", 2}}, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			return tensor.Shape{s[0][0] * op.tokens, s[0][1]}, nil
		},
		kernel: bind(op.tokens, selectCLSDXDo[float32], selectCLSDXDo[float64]),
	}), grad)
	return gorgonia.Nodes{dx}, err
}

func selectCLSDXDo[T Float](tokens int, c *call[T]) error {
	n, d := c.dims2(0)
	selectCLSBackward(c.out, c.in[0], n, tokens, d)
	return nil
}
