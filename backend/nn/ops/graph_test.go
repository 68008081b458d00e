package ops

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// input describes one input of a graph under test.
type input struct {
	name  string
	shape []int
	grad  bool    // differentiate the loss w.r.t. it
	scale float64 // values are uniform in [-scale, scale); 0 means 1
}

// builder adds an op (fused or naive) on the inputs to g's graph.
type builder func(in gorgonia.Nodes) (*gorgonia.Node, error)

// graphRun is a compiled graph: inputs, output, the loss L = Σ out ⊙ r (or
// the output itself when it is a scalar), gradients, and its machine.
type graphRun struct {
	g       *gorgonia.ExprGraph
	in      gorgonia.Nodes
	specs   []input
	out     *gorgonia.Node
	loss    *gorgonia.Node
	wrt     gorgonia.Nodes
	grads   gorgonia.Nodes
	machine gorgonia.VM
}

// newGraphRun builds build on inputs holding copies of vals, in dtype dt.
func newGraphRun(dt tensor.Dtype, specs []input, vals []*tensor.Dense, build builder) (*graphRun, error) {
	gr := &graphRun{g: gorgonia.NewGraph(), specs: specs}
	for i, s := range specs {
		n := gorgonia.NewTensor(gr.g, dt, len(s.shape), gorgonia.WithShape(s.shape...), gorgonia.WithName(s.name), gorgonia.WithValue(convert(vals[i], dt)))
		gr.in = append(gr.in, n)
		if s.grad {
			gr.wrt = append(gr.wrt, n)
		}
	}
	var err error
	if gr.out, err = build(gr.in); err != nil {
		return nil, err
	}
	gr.loss = gr.out
	if !gr.out.IsScalar() {
		r := lossWeights(gr.out.Shape())
		w := gorgonia.NewTensor(gr.g, dt, r.Dims(), gorgonia.WithShape(r.Shape()...), gorgonia.WithName("r"), gorgonia.WithValue(convert(r, dt)))
		prod, err := gorgonia.HadamardProd(gr.out, w)
		if err != nil {
			return nil, err
		}
		if gr.loss, err = gorgonia.Sum(prod); err != nil {
			return nil, err
		}
	}
	if gr.grads, err = gorgonia.Grad(gr.loss, gr.wrt...); err != nil {
		return nil, err
	}
	gr.machine = gorgonia.NewTapeMachine(gr.g)
	return gr, gr.run()
}

// run re-runs the machine. Without a Reseed every run draws the same
// dropout masks: the loss is a deterministic function of the inputs, as
// finite differences need.
func (gr *graphRun) run() error {
	gr.machine.Reset()
	return gr.machine.RunAll()
}

// lossValue returns the loss of the latest run.
func (gr *graphRun) lossValue() float64 { return toFloat64(gr.loss.Value()) }

// snapshot copies the output and the gradients of the latest run (the ops
// reuse their buffers on the next).
func (gr *graphRun) snapshot() (out []float64, grads [][]float64) {
	out = toFloat64s(gr.out.Value())
	for _, g := range gr.grads {
		grads = append(grads, toFloat64s(g.Value()))
	}
	return out, grads
}

// randDense returns a float64 tensor of the given shape, uniform in [-scale, scale).
func randDense(rng *rand.Rand, scale float64, shape ...int) *tensor.Dense {
	if scale == 0 {
		scale = 1
	}
	d := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(shape...))
	for i := range d.Float64s() {
		d.Float64s()[i] = scale * (2*rng.Float64() - 1)
	}
	return d
}

// convert returns a copy of the float64 tensor src in dtype dt.
func convert(src *tensor.Dense, dt tensor.Dtype) *tensor.Dense {
	d := tensor.New(tensor.Of(dt), tensor.WithShape(src.Shape().Clone()...))
	for i, v := range src.Float64s() {
		if dt == tensor.Float32 {
			d.Float32s()[i] = float32(v)
		} else {
			d.Float64s()[i] = v
		}
	}
	return d
}

// toFloat64s copies a float32 or float64 value into a new []float64.
func toFloat64s(v gorgonia.Value) []float64 {
	switch s := v.(type) {
	case *gorgonia.F32:
		return []float64{float64(*s)}
	case *gorgonia.F64:
		return []float64{float64(*s)}
	}
	d := v.(tensor.Tensor)
	if !d.IsScalar() && d.RequiresIterator() {
		panic("test values must be contiguous")
	}
	switch data := d.Data().(type) {
	case []float32:
		out := make([]float64, len(data))
		for i, x := range data {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), data...)
	case float32:
		return []float64{float64(data)}
	case float64:
		return []float64{data}
	}
	panic(fmt.Sprintf("unexpected value %T", v))
}

func toFloat64(v gorgonia.Value) float64 { return toFloat64s(v)[0] }

// graphCase is one op under test: its inputs, the fused build, and the naive
// composition of Gorgonia primitives it must agree with (nil where the op
// draws random masks).
type graphCase struct {
	name   string
	inputs []input
	fused  builder
	naive  builder
}

func graphCases() []graphCase {
	const rows, in, out = 5, 4, 3
	mat := func(name string, r, c int) input { return input{name: name, shape: []int{r, c}, grad: true} }
	vec := func(name string, n int) input { return input{name: name, shape: []int{n}, grad: true} }
	return []graphCase{
		{
			name:   "linear",
			inputs: []input{mat("x", rows, in), mat("W", out, in), vec("b", out)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return Linear(n[0], n[1], n[2]) },
			naive:  naiveLinear,
		},
		{
			name:   "linear without bias",
			inputs: []input{mat("x", rows, in), mat("W", out, in)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return Linear(n[0], n[1], nil) },
			naive: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				return gorgonia.Mul(n[0], gorgonia.Must(gorgonia.Transpose(n[1])))
			},
		},
		{
			name:   "layernorm",
			inputs: []input{mat("x", rows, 6), vec("gamma", 6), vec("beta", 6)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return LayerNorm(n[0], n[1], n[2], LayerNormEps) },
			naive:  naiveLayerNorm,
		},
		{
			name:   "gelu",
			inputs: []input{{name: "x", shape: []int{rows, 4}, grad: true, scale: 3}},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return GELU(n[0]) },
			naive:  naiveGELU,
		},
		{
			name:   "attention",
			inputs: []input{{name: "qkv", shape: []int{2 * 3, 3 * 4}, grad: true, scale: 2}},
			fused: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				return Attention(n[0], AttentionConfig{Heads: 2, Tokens: 3})
			},
			naive: func(n gorgonia.Nodes) (*gorgonia.Node, error) { return naiveAttention(n[0], 2, 3) },
		},
		{
			name:   "attention with dropout",
			inputs: []input{{name: "qkv", shape: []int{2 * 3, 3 * 4}, grad: true, scale: 2}},
			fused: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				return Attention(n[0], AttentionConfig{Heads: 2, Tokens: 3, Dropout: 0.3, Seed: 5})
			},
		},
		{
			name:   "cross-entropy",
			inputs: []input{{name: "logits", shape: []int{4, 3}, grad: true, scale: 2}},
			fused: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				loss, op, err := SoftmaxCrossEntropy(n[0])
				if err != nil {
					return nil, err
				}
				return loss, op.SetLabels(testLabels)
			},
			naive: naiveCrossEntropy,
		},
		{
			name:   "tokens",
			inputs: []input{mat("patches", 2*3, 4), mat("cls", 1, 4), mat("pos", 3+1, 4)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return Tokens(n[0], n[1], n[2]) },
			naive:  naiveTokens,
		},
		{
			name:   "residual",
			inputs: []input{mat("x", rows, 4), mat("f", rows, 4)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return Residual(n[0], n[1], DropPath{}) },
			naive:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return gorgonia.Add(n[0], n[1]) },
		},
		{
			name:   "residual with drop path",
			inputs: []input{mat("x", 4*2, 3), mat("f", 4*2, 3)},
			fused: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				return Residual(n[0], n[1], DropPath{Rate: 0.5, Tokens: 2, Seed: 3})
			},
		},
		{
			name:   "select cls",
			inputs: []input{mat("x", 3*4, 2)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return SelectCLS(n[0], 4) },
			naive: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				var rows gorgonia.Nodes
				for i := 0; i < 3; i++ {
					rows = append(rows, gorgonia.Must(gorgonia.Slice(n[0], gorgonia.S(4*i, 4*i+1))))
				}
				return gorgonia.Concat(0, rows...)
			},
		},
		{
			name: "patch embedding",
			inputs: []input{
				{name: "images", shape: []int{2, 3, 4, 6}},
				mat("W", 5, 3*2*2), vec("b", 5),
			},
			fused: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				p, err := Patchify(n[0], 2)
				if err != nil {
					return nil, err
				}
				return Linear(p, n[1], n[2])
			},
			naive: naivePatchEmbed,
		},
	}
}

var testLabels = []int{2, 0, 1, 2}

func naiveLinear(n gorgonia.Nodes) (*gorgonia.Node, error) {
	xw, err := gorgonia.Mul(n[0], gorgonia.Must(gorgonia.Transpose(n[1])))
	if err != nil {
		return nil, err
	}
	return gorgonia.BroadcastAdd(xw, n[2], nil, []byte{0})
}

func naiveLayerNorm(n gorgonia.Nodes) (*gorgonia.Node, error) {
	x, gamma, beta := n[0], n[1], n[2]
	mean := gorgonia.Must(gorgonia.Mean(x, 1))
	xc := gorgonia.Must(gorgonia.BroadcastSub(x, mean, nil, []byte{1}))
	v := gorgonia.Must(gorgonia.Mean(gorgonia.Must(gorgonia.Square(xc)), 1))
	eps := gorgonia.NewConstant(castLike(x, LayerNormEps))
	// Not InverseSqrt: its gradient in Gorgonia v0.9.18 is -g/(2y³) where
	// -g·y³/2 is right.
	rstd := gorgonia.Must(gorgonia.Inverse(gorgonia.Must(gorgonia.Sqrt(gorgonia.Must(gorgonia.Add(v, eps))))))
	xhat := gorgonia.Must(gorgonia.BroadcastHadamardProd(xc, rstd, nil, []byte{1}))
	scaled := gorgonia.Must(gorgonia.BroadcastHadamardProd(xhat, gamma, nil, []byte{0}))
	return gorgonia.BroadcastAdd(scaled, beta, nil, []byte{0})
}

// castLike returns v as a scalar of n's dtype.
func castLike(n *gorgonia.Node, v float64) any {
	if n.Dtype() == tensor.Float32 {
		return float32(v)
	}
	return v
}

func naiveGELU(n gorgonia.Nodes) (*gorgonia.Node, error) {
	x := n[0]
	e, err := gorgonia.ApplyOp(erfOp{}, gorgonia.Must(gorgonia.Mul(x, gorgonia.NewConstant(castLike(x, 1/math.Sqrt2)))))
	if err != nil {
		return nil, err
	}
	one := gorgonia.NewConstant(castLike(x, 1))
	half := gorgonia.NewConstant(castLike(x, 0.5))
	return gorgonia.Mul(half, gorgonia.Must(gorgonia.HadamardProd(x, gorgonia.Must(gorgonia.Add(one, e)))))
}

// naiveAttention composes timm's attention per (sequence, head) from
// slices, matrix products and SoftMax.
func naiveAttention(qkv *gorgonia.Node, heads, tokens int) (*gorgonia.Node, error) {
	rows, w := qkv.Shape()[0], qkv.Shape()[1]
	d := w / 3
	dh := d / heads
	scale := gorgonia.NewConstant(castLike(qkv, 1/math.Sqrt(float64(dh))))
	var seqs gorgonia.Nodes
	for s := 0; s < rows/tokens; s++ {
		var hs gorgonia.Nodes
		for h := 0; h < heads; h++ {
			part := func(k int) *gorgonia.Node {
				return gorgonia.Must(gorgonia.Slice(qkv, gorgonia.S(s*tokens, (s+1)*tokens), gorgonia.S(k*d+h*dh, k*d+(h+1)*dh)))
			}
			q, k, v := part(0), part(1), part(2)
			scores := gorgonia.Must(gorgonia.Mul(gorgonia.Must(gorgonia.Mul(q, gorgonia.Must(gorgonia.Transpose(k)))), scale))
			p := gorgonia.Must(gorgonia.SoftMax(scores))
			hs = append(hs, gorgonia.Must(gorgonia.Mul(p, v)))
		}
		seqs = append(seqs, gorgonia.Must(gorgonia.Concat(1, hs...)))
	}
	return gorgonia.Concat(0, seqs...)
}

func naiveCrossEntropy(n gorgonia.Nodes) (*gorgonia.Node, error) {
	logits := n[0]
	s := logits.Shape()
	onehot := tensor.New(tensor.Of(logits.Dtype()), tensor.WithShape(s...))
	for i, l := range testLabels {
		if logits.Dtype() == tensor.Float32 {
			onehot.Float32s()[i*s[1]+l] = 1
		} else {
			onehot.Float64s()[i*s[1]+l] = 1
		}
	}
	oh := gorgonia.NewTensor(logits.Graph(), logits.Dtype(), 2, gorgonia.WithShape(s...), gorgonia.WithValue(onehot), gorgonia.WithName("onehot"))
	logp := gorgonia.Must(gorgonia.LogSoftMax(logits))
	picked := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(logp, oh)), 1))
	return gorgonia.Neg(gorgonia.Must(gorgonia.Mean(picked)))
}

func naiveTokens(n gorgonia.Nodes) (*gorgonia.Node, error) {
	patches, cls, pos := n[0], n[1], n[2]
	p := pos.Shape()[0] - 1
	var seqs gorgonia.Nodes
	for i := 0; i < patches.Shape()[0]/p; i++ {
		img := gorgonia.Must(gorgonia.Slice(patches, gorgonia.S(i*p, (i+1)*p)))
		seq := gorgonia.Must(gorgonia.Concat(0, cls, img))
		seqs = append(seqs, gorgonia.Must(gorgonia.Add(seq, pos)))
	}
	return gorgonia.Concat(0, seqs...)
}

// naivePatchEmbed is timm's PatchEmbed by Gorgonia's Conv2d: stride = kernel
// = patch, then (N, D, gh, gw) -> (N*gh*gw, D).
func naivePatchEmbed(n gorgonia.Nodes) (*gorgonia.Node, error) {
	im, w, b := n[0], n[1], n[2]
	s := im.Shape()
	ws := w.Shape()
	const ps = 2
	kernel := gorgonia.Must(gorgonia.Reshape(w, tensor.Shape{ws[0], s[1], ps, ps}))
	conv, err := gorgonia.Conv2d(im, kernel, tensor.Shape{ps, ps}, []int{0, 0}, []int{ps, ps}, []int{1, 1})
	if err != nil {
		return nil, err
	}
	// (N, D, gh, gw) -> (N, gh, gw, D) -> (N*gh*gw, D)
	t := gorgonia.Must(gorgonia.Transpose(conv, 0, 2, 3, 1))
	cs := conv.Shape()
	flat := gorgonia.Must(gorgonia.Reshape(t, tensor.Shape{cs[0] * cs[2] * cs[3], cs[1]}))
	return gorgonia.BroadcastAdd(flat, b, nil, []byte{0})
}

// erfOp is erf elementwise. Gorgonia has no erf primitive, so the naive
// GELU takes erf's values from math.Erf and its derivative,
// 2/√π·exp(-x²), from Gorgonia primitives.
type erfOp struct{}

func (erfOp) Arity() int { return 1 }
func (erfOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}
func (erfOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (erfOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	x := vals[0].(*tensor.Dense)
	y := x.Clone().(*tensor.Dense)
	switch data := y.Data().(type) {
	case []float32:
		for i, v := range data {
			data[i] = float32(math.Erf(float64(v)))
		}
	case []float64:
		for i, v := range data {
			data[i] = math.Erf(v)
		}
	}
	return y, nil
}
func (erfOp) ReturnsPtr() bool      { return false }
func (erfOp) CallsExtern() bool     { return false }
func (erfOp) OverwritesInput() int  { return -1 }
func (erfOp) WriteHash(h hash.Hash) { fmt.Fprint(h, "erf") }
func (op erfOp) Hashcode() uint32   { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (erfOp) String() string        { return "erf" }
func (erfOp) DiffWRT(int) []bool    { return []bool{true} }
func (erfOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	x := in[0]
	c := gorgonia.NewConstant(castLike(x, 2/math.Sqrt(math.Pi)))
	d := gorgonia.Must(gorgonia.Mul(c, gorgonia.Must(gorgonia.Exp(gorgonia.Must(gorgonia.Neg(gorgonia.Must(gorgonia.Square(x))))))))
	dx, err := gorgonia.HadamardProd(grad, d)
	return gorgonia.Nodes{dx}, err
}

// caseValues draws the input values of a case.
func caseValues(c graphCase, seed uint64) []*tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 1))
	var vals []*tensor.Dense
	for _, in := range c.inputs {
		vals = append(vals, randDense(rng, in.scale, in.shape...))
	}
	return vals
}

// lossWeights returns the fixed weights r of the loss Σ out ⊙ r for an
// output shape: the same for every graph built on that shape.
func lossWeights(shape tensor.Shape) *tensor.Dense {
	return randDense(rand.New(rand.NewPCG(99, 0)), 1, shape...)
}
