package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Backbone is a ViT's parameters as nodes of one graph, ready to build
// forward passes from. It is not safe for concurrent use.
type Backbone struct {
	preset vit.Preset
	g      *gorgonia.ExprGraph
	dt     tensor.Dtype
	nodes  gorgonia.Nodes // in the order of the vit.Params
	byName map[string]*gorgonia.Node
	inputs int                    // forward passes built so far, to name their image nodes
	pos    map[int]*gorgonia.Node // resampled position embeddings by grid
}

// NewBackbone adds a node for every parameter of ps (the head's included) to
// g, in dtype Float32 or Float64. Float32 nodes share ps's storage; Float64
// nodes hold copies. Nodes keep the parameter's PyTorch shape except three,
// reshaped for the ops: cls_token (1, 1, D) -> (1, D), pos_embed (1, T, D)
// -> (T, D) and patch_embed.proj.weight (D, C, p, p) -> (D, C*p*p).
func NewBackbone(g *gorgonia.ExprGraph, ps *vit.Params, dt tensor.Dtype) (*Backbone, error) {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("nn: backbone dtype %v, want float32 or float64", dt)
	}
	return newBackbone(g, ps, newStorage(dt == tensor.Float64))
}

// newBackbone is NewBackbone with the parameters' values kept by st.
func newBackbone(g *gorgonia.ExprGraph, ps *vit.Params, st *storage) (*Backbone, error) {
	if err := ps.Preset.Validate(); err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	p := ps.Preset
	for _, name := range backboneNames(p) {
		if ps.Get(name) == nil {
			return nil, fmt.Errorf("nn: parameter set has no %q for preset %q", name, p.Name)
		}
	}
	// The shapes the forward pass relies on beyond what the ops check; vit.New
	// makes them, a hand-assembled set might not.
	d, grid := p.Dim, p.Grid(p.ImageSize)
	for name, want := range map[string][]int{
		"cls_token":               {1, 1, d},
		"pos_embed":               {1, 1 + grid*grid, d},
		"patch_embed.proj.weight": {d, p.InChans, p.PatchSize, p.PatchSize},
	} {
		if got := ps.Get(name).Shape; !slices.Equal(got, want) {
			return nil, fmt.Errorf("nn: parameter %s has shape %s, preset %q needs %s", name, vit.FormatShape(got), p.Name, vit.FormatShape(want))
		}
	}
	b := &Backbone{preset: p, g: g, dt: st.dt, byName: make(map[string]*gorgonia.Node, ps.Len()), pos: make(map[int]*gorgonia.Node)}
	for _, q := range ps.List() {
		n := st.node(g, q, graphShape(q))
		b.nodes = append(b.nodes, n)
		b.byName[q.Name] = n
	}
	return b, nil
}

// storage keeps the values a network's parameter nodes compute with: in
// float32 the vit.Params' own slices, so that an optimiser's update of them
// is what the next pass uses; in float64 (the exactness checks of
// micro-batching) one copy of each parameter, shared by all the network's
// graphs as the float32 slices are.
type storage struct {
	dt     tensor.Dtype
	copies map[*vit.Param][]float64
}

// newStorage returns float32 storage, or float64 when double is set.
func newStorage(double bool) *storage {
	if double {
		return &storage{dt: tensor.Float64, copies: map[*vit.Param][]float64{}}
	}
	return &storage{dt: tensor.Float32}
}

// node adds a node for parameter q with the given shape (q's values in
// row-major order) to g.
func (st *storage) node(g *gorgonia.ExprGraph, q *vit.Param, shape []int) *gorgonia.Node {
	var back *tensor.Dense
	if st.dt == tensor.Float32 {
		back = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(q.Data))
	} else {
		back = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(st.float64s(q)))
	}
	return gorgonia.NewTensor(g, st.dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(q.Name), gorgonia.WithValue(back))
}

// float64s returns the float64 values parameter q's nodes compute with in
// float64 storage, copying q's float32 values on first use.
func (st *storage) float64s(q *vit.Param) []float64 {
	c, ok := st.copies[q]
	if !ok {
		c = convert[float64](q.Data)
		st.copies[q] = c
	}
	return c
}

// dense returns a tensor of dtype dt (float32 or float64) and the given
// shape holding a converted copy of src.
func dense(dt tensor.Dtype, shape []int, src []float64) *tensor.Dense {
	if dt == tensor.Float32 {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(convert[float32](src)))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(convert[float64](src)))
}

// convert returns src as a []D: src itself when D is S, else a copy.
func convert[D, S float32 | float64](src []S) []D {
	if d, ok := any(src).([]D); ok {
		return d
	}
	d := make([]D, len(src))
	for i, v := range src {
		d[i] = D(v)
	}
	return d
}

// graphShape is the node shape of parameter p (see NewBackbone), whose
// shape NewBackbone has checked.
func graphShape(p *vit.Param) []int {
	s := p.Shape
	switch p.Name {
	case "cls_token", "pos_embed":
		return s[1:]
	case "patch_embed.proj.weight":
		return []int{s[0], s[1] * s[2] * s[3]}
	}
	return s
}

// backboneNames lists the parameters Forward reads.
func backboneNames(p vit.Preset) []string {
	names := []string{"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
	for i := range p.Depth {
		pre := blockPrefix(i)
		names = append(names, pre+"norm1.weight", pre+"norm1.bias", pre+"attn.qkv.weight",
			pre+"attn.proj.weight", pre+"attn.proj.bias", pre+"norm2.weight", pre+"norm2.bias",
			pre+"mlp.fc1.weight", pre+"mlp.fc1.bias", pre+"mlp.fc2.weight", pre+"mlp.fc2.bias")
		if p.QKVBias {
			names = append(names, pre+"attn.qkv.bias")
		}
	}
	return append(names, "norm.weight", "norm.bias")
}

func blockPrefix(i int) string { return "blocks." + strconv.Itoa(i) + "." }

// Node returns the node of the parameter called name, or nil.
func (b *Backbone) Node(name string) *gorgonia.Node { return b.byName[name] }

// Nodes returns the parameter nodes in the order of the vit.Params.
func (b *Backbone) Nodes() gorgonia.Nodes { return append(gorgonia.Nodes(nil), b.nodes...) }

// Forward is one forward pass of the backbone in the graph.
type Forward struct {
	Images *gorgonia.Node // input [N, C, S', S'], set with SetImages
	Tokens *gorgonia.Node // all tokens after the final norm [N*T, D]
	CLS    *gorgonia.Node // the class tokens after the final norm [N, D]

	Batch int // N
	Size  int // S, the input side SetImages takes
	Grid  int // patches per side
	T     int // tokens per image, Grid² + 1

	chans int
	pix   *tensor.Dense // the Images value
}

// Forward adds the network for batch images of size x size pixels to the
// graph (see the package documentation). Attention dropout and drop path
// use the preset's rates in training mode, seeded from seed, each op with
// its own stream.
func (b *Backbone) Forward(batch, size int, seed uint64) (*Forward, error) {
	return b.forward(batch, size, seed, nil)
}

// forward is Forward with embed, when not nil, applied to the patch
// embeddings [N*P, D] before the class token and position embedding join
// them (iBOT's mask token goes in there).
func (b *Backbone) forward(batch, size int, seed uint64, embed func(*gorgonia.Node) (*gorgonia.Node, error)) (*Forward, error) {
	p := b.preset
	grid := p.Grid(size)
	if batch <= 0 || grid <= 0 {
		return nil, fmt.Errorf("nn: forward of %d images of %d px: need at least one image of one %d px patch", batch, size, p.PatchSize)
	}
	side := grid * p.PatchSize
	f := &Forward{Batch: batch, Size: size, Grid: grid, T: grid*grid + 1, chans: p.InChans}
	f.pix = tensor.New(tensor.Of(b.dt), tensor.WithShape(batch, p.InChans, side, side))
	b.inputs++
	f.Images = gorgonia.NewTensor(b.g, b.dt, 4, gorgonia.WithShape(batch, p.InChans, side, side),
		gorgonia.WithName("images"+strconv.Itoa(b.inputs)), gorgonia.WithValue(f.pix))

	g := &builder{}
	x := g.linear(g.patchify(f.Images, p.PatchSize), b.byName["patch_embed.proj.weight"], b.byName["patch_embed.proj.bias"])
	if embed != nil {
		x = g.call(embed, x)
	}
	pos := g.do(func() (*gorgonia.Node, error) { return b.posEmbed(grid) })
	x = g.tokens(x, b.byName["cls_token"], pos)
	for i := range p.Depth {
		if x = b.block(g, x, i, f.T, seed); g.err != nil {
			return nil, fmt.Errorf("nn: block %d: %w", i, g.err)
		}
	}
	f.Tokens = g.layerNorm(x, b.byName["norm.weight"], b.byName["norm.bias"])
	f.CLS = g.selectCLS(f.Tokens, f.T)
	if g.err != nil {
		return nil, g.err
	}
	return f, nil
}

// posEmbed returns the position embedding for a grid x grid input: the
// parameter itself on the preset's grid, else the parameter resampled by a
// constant matrix (Gorgonia's product carries the gradient back to it),
// one product per grid shared by the forward passes.
func (b *Backbone) posEmbed(grid int) (*gorgonia.Node, error) {
	pos := b.byName["pos_embed"]
	native := b.preset.Grid(b.preset.ImageSize)
	if grid == native {
		return pos, nil
	}
	if r := b.pos[grid]; r != nil {
		return r, nil
	}
	m, err := vit.PosEmbedMatrix(native, grid)
	if err != nil {
		return nil, err
	}
	rows, cols := 1+grid*grid, 1+native*native
	mn := gorgonia.NewMatrix(b.g, b.dt, gorgonia.WithShape(rows, cols),
		gorgonia.WithName(fmt.Sprintf("pos_resample_%dx%d", grid, grid)), gorgonia.WithValue(dense(b.dt, []int{rows, cols}, m)))
	r, err := gorgonia.Mul(mn, pos)
	if err != nil {
		return nil, err
	}
	b.pos[grid] = r
	return r, nil
}

// Op kinds that draw random numbers, for opSeed.
const (
	seedAttn = iota
	seedPathAttn
	seedPathMLP
	seedKinds
)

// opSeed derives the seed of one random op from the forward's seed, so
// that every op draws from its own stream.
func opSeed(seed uint64, block, kind int) uint64 {
	return rand.NewPCG(seed, uint64(block*seedKinds+kind)).Uint64()
}

// block adds pre-norm transformer block i to x [N*T, D]: ten nodes.
func (b *Backbone) block(g *builder, x *gorgonia.Node, i, tokens int, seed uint64) *gorgonia.Node {
	p, pre, rate := b.preset, blockPrefix(i), b.preset.DropPathAt(i)
	n := func(name string) *gorgonia.Node { return b.byName[pre+name] }
	h := g.linear(g.layerNorm(x, n("norm1.weight"), n("norm1.bias")), n("attn.qkv.weight"), n("attn.qkv.bias"))
	h = g.attention(h, ops.AttentionConfig{Heads: p.Heads, Tokens: tokens, Dropout: p.AttnDrop, Seed: opSeed(seed, i, seedAttn)})
	h = g.linear(h, n("attn.proj.weight"), n("attn.proj.bias"))
	x = g.residual(x, h, ops.DropPath{Rate: rate, Tokens: tokens, Seed: opSeed(seed, i, seedPathAttn)})
	h = g.linear(g.layerNorm(x, n("norm2.weight"), n("norm2.bias")), n("mlp.fc1.weight"), n("mlp.fc1.bias"))
	h = g.linear(g.gelu(h), n("mlp.fc2.weight"), n("mlp.fc2.bias"))
	return g.residual(x, h, ops.DropPath{Rate: rate, Tokens: tokens, Seed: opSeed(seed, i, seedPathMLP)})
}

// SetImages copies images, N x C x S x S row-major (the Batch, channels and
// Size of f), into the input, keeping the top-left S' x S' of each.
func (f *Forward) SetImages(images []float32) error {
	s, side := f.Size, f.Images.Shape()[2]
	if want := f.Batch * f.chans * s * s; len(images) != want {
		return fmt.Errorf("nn: %d image values, want %d images x %d bands x %d x %d = %d", len(images), f.Batch, f.chans, s, s, want)
	}
	planes := f.Batch * f.chans
	if f.pix.Dtype() == tensor.Float32 {
		cropPlanes(f.pix.Float32s(), images, planes, s, side)
	} else {
		cropPlanes(f.pix.Float64s(), images, planes, s, side)
	}
	return nil
}

// cropPlanes copies the top-left side x side corner of each of the planes
// s x s planes of src into dst.
func cropPlanes[T float32 | float64](dst []T, src []float32, planes, s, side int) {
	for pl := range planes {
		for y := range side {
			in := src[(pl*s+y)*s : (pl*s+y)*s+side]
			out := dst[(pl*side+y)*side : (pl*side+y+1)*side]
			for x, v := range in {
				out[x] = T(v)
			}
		}
	}
}
