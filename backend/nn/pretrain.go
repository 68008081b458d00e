package nn

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// MaskTokenName is the learned embedding iBOT's student puts in place of
// masked patches, a (1, Dim) parameter of the student's head set (iBOT's
// masked_embed).
const MaskTokenName = "mask_token"

// AddMaskToken adds a zero mask token of width dim to ps, as iBOT
// initialises masked_embed.
func AddMaskToken(ps *vit.Params, dim int) error {
	_, err := ps.Add(MaskTokenName, []int{1, dim})
	return err
}

var errNetClosed = errors.New("nn: network is closed")

// trainGraph is a compiled training graph: a scalar loss and the
// gradients of the trainable parameters, copied after each run into the
// Vars' own buffers. Micro-batched, the graph holds the heads and the loss
// on the tokens of chunked crop groups, whose backward passes give the
// backbone's gradients (see chunkedCrops).
type trainGraph struct {
	g        *gorgonia.ExprGraph
	vm       gorgonia.VM
	loss     *gorgonia.Node
	vars     []optim.Var
	grads    gorgonia.Nodes  // of vars[inGraph[i]]
	inGraph  []int           // the vars the graph differentiates
	crops    []*chunkedCrops // micro-batched: the groups feeding the graph
	chunkRun []int           // micro-batched: the backbone's vars, then the mask token's
	bufs     gradBuffers     // the vars' gradients
	st       *storage
	closed   bool
}

// newTrainGraph differentiates loss w.r.t. the parameters of the backbone
// and head (in the order of their vit.Params, the backbone's first),
// leaving out those frozen reports, and compiles the graph. bb is the
// backbone in the graph, or nil when crops, micro-batched, feed it; hg's
// storage is the network's.
func newTrainGraph(g *gorgonia.ExprGraph, loss *gorgonia.Node, bb *Backbone, backbone, head *vit.Params, hg *headGraph, frozen func(string) bool, crops ...*chunkedCrops) (*trainGraph, error) {
	t := &trainGraph{g: g, loss: loss, crops: crops, st: hg.st}
	var wrt gorgonia.Nodes
	add := func(p *vit.Param, node *gorgonia.Node) {
		v := optim.Var{Name: p.Name, Data: p.Data, Grad: make([]float32, len(p.Data)), NoDecay: p.NoDecay}
		if node != nil {
			t.inGraph = append(t.inGraph, len(t.vars))
			wrt = append(wrt, node)
		} else {
			t.chunkRun = append(t.chunkRun, len(t.vars))
		}
		t.vars = append(t.vars, v)
	}
	for _, p := range backbone.List() {
		if bb == nil {
			add(p, nil)
		} else {
			add(p, bb.Node(p.Name))
		}
	}
	for _, p := range head.List() {
		switch {
		case frozen != nil && frozen(p.Name):
		case bb == nil && p.Name == MaskTokenName:
			add(p, nil)
		default:
			add(p, hg.nodes[p.Name])
		}
	}
	for _, c := range crops {
		wrt = append(wrt, c.in.Tokens)
	}
	grads, err := gorgonia.Grad(loss, wrt...)
	if err != nil {
		return nil, fmt.Errorf("nn: gradients: %w", err)
	}
	t.grads = grads[:len(t.inGraph)]
	t.bufs = newGradBuffers(t.vars, t.st.dt == tensor.Float64)
	for i, c := range crops {
		c.tokenGrad = grads[len(t.inGraph)+i]
	}
	t.vm = gorgonia.NewTapeMachine(g)
	return t, nil
}

// run runs one step: the crop groups' features when micro-batched, the
// machine, the gradients into the Vars, then the groups' backward passes.
func (t *trainGraph) run() error {
	if t.closed {
		return errNetClosed
	}
	for _, c := range t.crops {
		if err := c.features(); err != nil {
			return err
		}
	}
	t.vm.Reset()
	if err := t.vm.RunAll(); err != nil {
		return err
	}
	for i, vi := range t.inGraph {
		if err := t.bufs.add(vi, t.grads[i].Value(), 1, true); err != nil {
			return err
		}
	}
	for _, vi := range t.chunkRun {
		t.bufs.clear(vi)
	}
	for _, c := range t.crops {
		if err := c.backward(t.bufs, t.chunkRun); err != nil {
			return err
		}
	}
	return nil
}

// reseed numbers the step whose dropout and drop-path masks the next run
// draws.
func (t *trainGraph) reseed(step uint64) {
	ops.Reseed(t.g, step)
	for _, c := range t.crops {
		c.reseed(step)
	}
}

func (t *trainGraph) close() {
	if !t.closed {
		t.vm.Close()
		for _, c := range t.crops {
			c.close()
		}
		t.closed = true
	}
}

// forwardSeed derives one seed per forward pass of a graph, so that every
// pass draws its own dropout and drop-path masks.
func forwardSeed(seed uint64, pass int) uint64 { return rand.NewPCG(seed, uint64(pass)).Uint64() }

// checkHead checks that ps holds exactly the parameters of the layers
// (and the extra names), with their shapes, so that a graph built from it
// trains all of them.
func checkHead(ps *vit.Params, ls []layer, extra ...string) error {
	want := vit.Params{}
	if err := addLayerParams(&want, ls, rand.New(rand.NewPCG(0, 0)), nil); err != nil {
		return err
	}
	for _, p := range want.List() {
		q := ps.Get(p.Name)
		if q == nil {
			return fmt.Errorf("nn: head parameters have no %q %s", p.Name, vit.FormatShape(p.Shape))
		}
		if len(q.Data) != len(p.Data) {
			return fmt.Errorf("nn: head parameter %q is %s, want %s", p.Name, vit.FormatShape(q.Shape), vit.FormatShape(p.Shape))
		}
	}
	if n := want.Len() + len(extra); ps.Len() != n {
		return fmt.Errorf("nn: head parameter set has %d tensors, the head takes %d", ps.Len(), n)
	}
	for _, e := range extra {
		if ps.Get(e) == nil {
			return fmt.Errorf("nn: head parameters have no %q", e)
		}
	}
	return nil
}

// checkBatch checks a flat image slice against its expected length.
func checkBatch(what string, images []float32, n int) error {
	if len(images) != n {
		return fmt.Errorf("nn: %s: %d values, want %d", what, len(images), n)
	}
	return nil
}
