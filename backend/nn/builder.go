package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/vit"
)

// builder adds layers to a graph and keeps the first error: once a call has
// failed, later calls add nothing and return nil, so a network reads as a
// list of layers with one check of err at the end.
type builder struct{ err error }

// do adds a layer with add unless an earlier call failed.
func (b *builder) do(add func() (*gorgonia.Node, error)) *gorgonia.Node {
	if b.err != nil {
		return nil
	}
	n, err := add()
	b.err = err
	return n
}

// call applies f to x unless an earlier call failed.
func (b *builder) call(f func(*gorgonia.Node) (*gorgonia.Node, error), x *gorgonia.Node) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return f(x) })
}

// fail records err unless an earlier call failed, and returns nil.
func (b *builder) fail(err error) *gorgonia.Node {
	if b.err == nil {
		b.err = err
	}
	return nil
}

// param returns the node called name in nodes, or records that there is none.
func (b *builder) param(nodes map[string]*gorgonia.Node, name string) *gorgonia.Node {
	if n := nodes[name]; n != nil {
		return n
	}
	return b.fail(fmt.Errorf("no parameter %q", name))
}

func (b *builder) patchify(images *gorgonia.Node, patch int) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.Patchify(images, patch) })
}

func (b *builder) tokens(patches, cls, pos *gorgonia.Node) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.Tokens(patches, cls, pos) })
}

func (b *builder) selectCLS(x *gorgonia.Node, tokens int) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.SelectCLS(x, tokens) })
}

// linear is x·wᵀ + bias, or x·wᵀ when bias is nil.
func (b *builder) linear(x, w, bias *gorgonia.Node) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.Linear(x, w, bias) })
}

// layerNorm is timm's ViT LayerNorm (eps 1e-6).
func (b *builder) layerNorm(x, gamma, beta *gorgonia.Node) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.LayerNorm(x, gamma, beta, vit.LayerNormEps) })
}

func (b *builder) attention(qkv *gorgonia.Node, c ops.AttentionConfig) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.Attention(qkv, c) })
}

func (b *builder) residual(x, f *gorgonia.Node, dp ops.DropPath) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.Residual(x, f, dp) })
}

func (b *builder) gelu(x *gorgonia.Node) *gorgonia.Node { return b.call(ops.GELU, x) }
func (b *builder) relu(x *gorgonia.Node) *gorgonia.Node { return b.call(ops.ReLU, x) }
func (b *builder) l2Normalize(x *gorgonia.Node) *gorgonia.Node {
	return b.call(ops.L2Normalize, x)
}

func (b *builder) batchNorm(x, gamma, beta *gorgonia.Node, c ops.BatchNormConfig) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.BatchNorm(x, gamma, beta, c) })
}

func (b *builder) weightNorm(v, g *gorgonia.Node) *gorgonia.Node {
	return b.do(func() (*gorgonia.Node, error) { return ops.WeightNorm(v, g) })
}

// softCrossEntropy is ops.SoftCrossEntropy; op is nil after a failure.
func (b *builder) softCrossEntropy(logits *gorgonia.Node, temp float64) (loss *gorgonia.Node, op *ops.SoftCE) {
	loss = b.do(func() (n *gorgonia.Node, err error) {
		n, op, err = ops.SoftCrossEntropy(logits, temp)
		return n, err
	})
	return loss, op
}

// crossEntropy is ops.SoftmaxCrossEntropy; op is nil after a failure.
func (b *builder) crossEntropy(logits *gorgonia.Node) (loss *gorgonia.Node, op *ops.CrossEntropy) {
	loss = b.do(func() (n *gorgonia.Node, err error) {
		n, op, err = ops.SoftmaxCrossEntropy(logits)
		return n, err
	})
	return loss, op
}
