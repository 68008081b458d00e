package ops

import (
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// blockConfig is one pre-norm ViT block (timm's Block): x + attn(LN(x)),
// then + mlp(LN(·)).
type blockConfig struct {
	n, t, d, heads, hidden int
	attnDrop, dropPath     float64
}

// blockInputs lists the block's input x and its parameters in timm's order
// and layouts.
func blockInputs(c blockConfig) []input {
	w := func(name string, shape ...int) input { return input{name: name, shape: shape, grad: true, scale: 0.5} }
	return []input{
		{name: "x", shape: []int{c.n * c.t, c.d}, grad: true},
		w("norm1.weight", c.d), w("norm1.bias", c.d),
		w("attn.qkv.weight", 3*c.d, c.d), w("attn.qkv.bias", 3*c.d),
		w("attn.proj.weight", c.d, c.d), w("attn.proj.bias", c.d),
		w("norm2.weight", c.d), w("norm2.bias", c.d),
		w("mlp.fc1.weight", c.hidden, c.d), w("mlp.fc1.bias", c.hidden),
		w("mlp.fc2.weight", c.d, c.hidden), w("mlp.fc2.bias", c.d),
	}
}

// fusedBlock builds the block from this package's ops: ten nodes.
func fusedBlock(c blockConfig) builder {
	return func(in gorgonia.Nodes) (*gorgonia.Node, error) {
		x := in[0]
		h := gorgonia.Must(LayerNorm(x, in[1], in[2], LayerNormEps))
		h = gorgonia.Must(Linear(h, in[3], in[4]))
		h = gorgonia.Must(Attention(h, AttentionConfig{Heads: c.heads, Tokens: c.t, Dropout: c.attnDrop, Seed: 1}))
		h = gorgonia.Must(Linear(h, in[5], in[6]))
		x = gorgonia.Must(Residual(x, h, DropPath{Rate: c.dropPath, Tokens: c.t, Seed: 2}))
		h = gorgonia.Must(LayerNorm(x, in[7], in[8], LayerNormEps))
		h = gorgonia.Must(Linear(h, in[9], in[10]))
		h = gorgonia.Must(GELU(h))
		h = gorgonia.Must(Linear(h, in[11], in[12]))
		return Residual(x, h, DropPath{Rate: c.dropPath, Tokens: c.t, Seed: 3})
	}
}

// naiveBlock builds the same block from Gorgonia primitives, attention
// batched over (sequence, head) with BatchedMatMul. It has no dropout.
func naiveBlock(c blockConfig) builder {
	return func(in gorgonia.Nodes) (*gorgonia.Node, error) {
		x := in[0]
		h := gorgonia.Must(naiveLayerNorm(gorgonia.Nodes{x, in[1], in[2]}))
		h = gorgonia.Must(naiveLinear(gorgonia.Nodes{h, in[3], in[4]}))
		h = gorgonia.Must(naiveBatchedAttention(h, c.heads, c.t))
		h = gorgonia.Must(naiveLinear(gorgonia.Nodes{h, in[5], in[6]}))
		x = gorgonia.Must(gorgonia.Add(x, h))
		h = gorgonia.Must(naiveLayerNorm(gorgonia.Nodes{x, in[7], in[8]}))
		h = gorgonia.Must(naiveLinear(gorgonia.Nodes{h, in[9], in[10]}))
		h = gorgonia.Must(naiveGELU(gorgonia.Nodes{h}))
		h = gorgonia.Must(naiveLinear(gorgonia.Nodes{h, in[11], in[12]}))
		return gorgonia.Add(x, h)
	}
}

// naiveBatchedAttention is timm's attention as reshapes, transposes and
// batched products: qkv (N*T, 3D) -> (N, T, 3H, Dh) -> (N, 3H, T, Dh), q, k,
// v as (N*H, T, Dh), softmax(q·kᵀ·scale)·v, and back to (N*T, D).
func naiveBatchedAttention(qkv *gorgonia.Node, heads, tokens int) (*gorgonia.Node, error) {
	rows, w := qkv.Shape()[0], qkv.Shape()[1]
	d := w / 3
	dh, n := d/heads, rows/tokens
	x := gorgonia.Must(gorgonia.Reshape(qkv, tensor.Shape{n, tokens, 3 * heads, dh}))
	x = gorgonia.Must(gorgonia.Transpose(x, 0, 2, 1, 3))
	part := func(k int) *gorgonia.Node {
		s := gorgonia.Must(gorgonia.Slice(x, nil, gorgonia.S(k*heads, (k+1)*heads)))
		return gorgonia.Must(gorgonia.Reshape(s, tensor.Shape{n * heads, tokens, dh}))
	}
	q, k, v := part(0), part(1), part(2)
	scale := gorgonia.NewConstant(castLike(qkv, 1/math.Sqrt(float64(dh))))
	s := gorgonia.Must(gorgonia.Mul(gorgonia.Must(gorgonia.BatchedMatMul(q, k, false, true)), scale))
	p := gorgonia.Must(gorgonia.SoftMax(s))
	o := gorgonia.Must(gorgonia.BatchedMatMul(p, v))
	o = gorgonia.Must(gorgonia.Reshape(o, tensor.Shape{n, heads, tokens, dh}))
	o = gorgonia.Must(gorgonia.Transpose(o, 0, 2, 1, 3))
	return gorgonia.Reshape(o, tensor.Shape{n * tokens, d})
}

// testBlock is small enough for finite differences over every parameter.
var testBlock = blockConfig{n: 2, t: 3, d: 8, heads: 2, hidden: 12}

func blockCase(name string, c blockConfig, naive bool) graphCase {
	gc := graphCase{name: name, inputs: blockInputs(c), fused: fusedBlock(c)}
	if naive {
		gc.naive = naiveBlock(c)
	}
	return gc
}
