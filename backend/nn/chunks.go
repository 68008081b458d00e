package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Micro-batching. A step whose crops do not fit in memory at once runs the
// backbone over them in chunks of crops, while the heads and the loss, whose
// BatchNorms and normalisers couple the whole batch, still see all of them:
//
//  1. each chunk's forward, without a backward, gives its tokens;
//  2. the head-and-loss graph runs on all the tokens: the loss, the heads'
//     gradients and the gradient of the tokens;
//  3. each chunk runs forward again and backward from its rows of the
//     tokens' gradient, adding to the backbone's gradients.
//
// Every crop keeps its dropout and drop-path masks (ops.FirstSample), so the
// step is the one-pass step up to float rounding. The price is a second
// backbone forward, about a third more compute; the memory is that of one
// chunk's backbone and the whole batch's heads, which are narrow.

// microBatched reports whether a chunk of images (0: none) splits a batch.
func microBatched(chunk, batch int) bool { return chunk > 0 && chunk < batch }

// chunkedCrops is one group of crops of one size, rows of them crop-major,
// run through the backbone chunk rows at a time. Its Tokens are an input of
// the head-and-loss graph.
type chunkedCrops struct {
	st        *storage
	backbone  *vit.Params
	maskToken *vit.Param // iBOT's student globals, else nil
	rows      int
	size      int
	chunk     int
	seed      uint64
	train     bool // false: the teacher's, evaluation-mode dropout and no gradients
	in        *Forward
	tokens    *tensor.Dense // in.Tokens's value [rows·T, D]
	tokenGrad *gorgonia.Node
	fwd, bwd  map[int]*chunkMachine // by chunk rows
	images    []float32
	masks     []bool
	step      uint64
}

// chunkMachine is one chunk's compiled backbone: forward only, or forward
// and the backward from a given gradient of its tokens.
type chunkMachine struct {
	g     *gorgonia.ExprGraph
	vm    gorgonia.VM
	fwd   *Forward
	mask  *ops.MaskedTokens
	seed  *tensor.Dense  // the tokens' gradient [rows·T, D], backward only
	grads gorgonia.Nodes // the backbone's parameters', then the mask token's
}

// newChunkedCrops adds the tokens of rows crops of size px as an input of
// head graph g and returns the group; in.Tokens and in.CLS are the nodes
// the heads read. seed is the seed a one-pass Forward of these crops takes;
// st keeps the network's parameters.
func newChunkedCrops(g *gorgonia.ExprGraph, st *storage, backbone *vit.Params, maskToken *vit.Param, rows, size, chunk int, seed uint64, train bool) (*chunkedCrops, error) {
	p := backbone.Preset
	grid := p.Grid(size)
	if rows <= 0 || grid <= 0 || chunk <= 0 {
		return nil, fmt.Errorf("nn: %d crops of %d px in chunks of %d: need crops holding one %d px patch and a positive chunk", rows, size, chunk, p.PatchSize)
	}
	c := &chunkedCrops{st: st, backbone: backbone, maskToken: maskToken, rows: rows, size: size, chunk: min(chunk, rows), seed: seed, train: train,
		fwd: map[int]*chunkMachine{}, bwd: map[int]*chunkMachine{}}
	t := grid*grid + 1
	c.tokens = tensor.New(tensor.WithShape(rows*t, p.Dim), tensor.Of(st.dt))
	c.in = &Forward{Batch: rows, Size: size, Grid: grid, T: t, chans: p.InChans}
	c.in.Tokens = gorgonia.NewMatrix(g, st.dt, gorgonia.WithShape(rows*t, p.Dim),
		gorgonia.WithName(fmt.Sprintf("tokens_%dpx", size)), gorgonia.WithValue(c.tokens))
	b := &builder{}
	if c.in.CLS = b.selectCLS(c.in.Tokens, t); b.err != nil {
		return nil, b.err
	}
	return c, nil
}

// SetImages takes the group's crops, [rows, C, size, size], and for iBOT's
// globals their masks, one flag per patch (nil when unmasked), for the next
// features and backward.
func (c *chunkedCrops) SetImages(images []float32, masks []bool) error {
	ch := c.backbone.Preset.InChans
	if want := c.rows * ch * c.size * c.size; len(images) != want {
		return fmt.Errorf("nn: %d image values, want %d crops x %d bands x %d x %d = %d", len(images), c.rows, ch, c.size, c.size, want)
	}
	c.images, c.masks = images, masks
	return nil
}

// perRow is the number of patches per crop (mask flags) and image values.
func (c *chunkedCrops) perRow() (patches, values int) {
	g := c.in.Grid
	return g * g, c.backbone.Preset.InChans * c.size * c.size
}

// each runs f over the chunks: the rows [lo, hi) and the machine for them,
// loaded with their images and masks and told where they start.
func (c *chunkedCrops) each(train bool, f func(m *chunkMachine, lo, hi int) error) error {
	patches, values := c.perRow()
	for lo := 0; lo < c.rows; lo += c.chunk {
		hi := min(lo+c.chunk, c.rows)
		m, err := c.machine(hi-lo, train)
		if err != nil {
			return err
		}
		if err := m.fwd.SetImages(c.images[lo*values : hi*values]); err != nil {
			return err
		}
		if m.mask != nil {
			mask := make([]bool, (hi-lo)*patches) // nil masks: none hidden
			if c.masks != nil {
				mask = c.masks[lo*patches : hi*patches]
			}
			if err := m.mask.SetMask(mask); err != nil {
				return err
			}
		}
		ops.Reseed(m.g, c.step)
		ops.FirstSample(m.g, lo)
		if err := f(m, lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// features runs the forward passes and fills the head graph's tokens.
func (c *chunkedCrops) features() error {
	width := c.in.T * c.backbone.Preset.Dim
	return c.each(false, func(m *chunkMachine, lo, hi int) error {
		m.vm.Reset()
		if err := m.vm.RunAll(); err != nil {
			return err
		}
		copyValues(c.tokens, lo*width, m.fwd.Tokens.Value(), 0, (hi-lo)*width)
		return nil
	})
}

// backward runs each chunk forward and backward from its rows of the
// tokens' gradient (the head graph's latest tokenGrad) and adds the
// backbone's gradients to buffers vars of grads, the backbone's parameters'
// in the order of their vit.Params, then the mask token's.
func (c *chunkedCrops) backward(grads gradBuffers, vars []int) error {
	dTokens := c.tokenGrad.Value()
	width := c.in.T * c.backbone.Preset.Dim
	return c.each(true, func(m *chunkMachine, lo, hi int) error {
		copyValues(m.seed, 0, dTokens, lo*width, (hi-lo)*width)
		m.vm.Reset()
		if err := m.vm.RunAll(); err != nil {
			return err
		}
		for i, n := range m.grads {
			if err := grads.add(vars[i], n.Value(), 1, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// machine returns the forward or backward machine for a chunk of rows.
func (c *chunkedCrops) machine(rows int, train bool) (*chunkMachine, error) {
	cache := c.fwd
	if train {
		cache = c.bwd
	}
	if m := cache[rows]; m != nil {
		return m, nil
	}
	m := &chunkMachine{g: gorgonia.NewGraph()}
	bb, err := newBackbone(m.g, c.backbone, c.st)
	if err != nil {
		return nil, err
	}
	var embed func(*gorgonia.Node) (*gorgonia.Node, error)
	var token *gorgonia.Node
	if c.maskToken != nil {
		token = c.st.node(m.g, c.maskToken, c.maskToken.Shape)
		embed = func(x *gorgonia.Node) (y *gorgonia.Node, err error) {
			y, m.mask, err = ops.MaskTokens(x, token)
			return y, err
		}
	}
	if m.fwd, err = bb.forward(rows, c.size, c.seed, embed); err != nil {
		return nil, err
	}
	if train {
		if err := m.addBackward(bb, token); err != nil {
			return nil, err
		}
	}
	m.vm = gorgonia.NewTapeMachine(m.g)
	if !c.train {
		ops.SetTraining(m.g, false)
	}
	cache[rows] = m
	return m, nil
}

// addBackward adds the surrogate loss sum(tokens ⊙ seed), whose gradient
// w.r.t. the tokens is the seed, and the gradients of the backbone's
// parameters and the mask token (when not nil).
func (m *chunkMachine) addBackward(bb *Backbone, token *gorgonia.Node) error {
	s := m.fwd.Tokens.Shape()
	m.seed = tensor.New(tensor.WithShape(s...), tensor.Of(m.fwd.Tokens.Dtype()))
	seed := gorgonia.NewMatrix(m.g, m.fwd.Tokens.Dtype(), gorgonia.WithShape(s...), gorgonia.WithName("tokens_grad"), gorgonia.WithValue(m.seed))
	prod, err := gorgonia.HadamardProd(m.fwd.Tokens, seed)
	if err != nil {
		return err
	}
	loss, err := gorgonia.Sum(prod)
	if err != nil {
		return err
	}
	wrt := bb.Nodes()
	if token != nil {
		wrt = append(wrt, token)
	}
	if m.grads, err = gorgonia.Grad(loss, wrt...); err != nil {
		return fmt.Errorf("nn: chunk gradients: %w", err)
	}
	return nil
}

// reseed numbers the step whose masks the next passes draw.
func (c *chunkedCrops) reseed(step uint64) { c.step = step }

func (c *chunkedCrops) close() {
	for _, m := range c.fwd {
		m.vm.Close()
	}
	for _, m := range c.bwd {
		m.vm.Close()
	}
	c.fwd, c.bwd = nil, nil
}
