package nn

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

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
// Vars' own buffers.
type trainGraph struct {
	g      *gorgonia.ExprGraph
	vm     gorgonia.VM
	loss   *gorgonia.Node
	vars   []optim.Var
	grads  gorgonia.Nodes
	closed bool
}

// newTrainGraph differentiates loss w.r.t. the parameter nodes of the
// backbone and head (in the order of their vit.Params, the backbone's
// first), leaving out those frozen reports, and compiles the graph.
func newTrainGraph(g *gorgonia.ExprGraph, loss *gorgonia.Node, bb *Backbone, backbone, head *vit.Params, hg *headGraph, frozen func(string) bool) (*trainGraph, error) {
	t := &trainGraph{g: g, loss: loss}
	var wrt gorgonia.Nodes
	for _, set := range []struct {
		ps   *vit.Params
		node func(string) *gorgonia.Node
	}{{backbone, bb.Node}, {head, func(n string) *gorgonia.Node { return hg.nodes[n] }}} {
		for _, p := range set.ps.List() {
			if frozen != nil && frozen(p.Name) {
				continue
			}
			t.vars = append(t.vars, optim.Var{Name: p.Name, Data: p.Data, Grad: make([]float32, len(p.Data)), NoDecay: p.NoDecay})
			wrt = append(wrt, set.node(p.Name))
		}
	}
	var err error
	if t.grads, err = gorgonia.Grad(loss, wrt...); err != nil {
		return nil, fmt.Errorf("nn: gradients: %w", err)
	}
	t.vm = gorgonia.NewTapeMachine(g)
	return t, nil
}

// run runs the machine once and copies the gradients into the Vars.
func (t *trainGraph) run() error {
	if t.closed {
		return errNetClosed
	}
	t.vm.Reset()
	if err := t.vm.RunAll(); err != nil {
		return err
	}
	for i, v := range t.vars {
		d, ok := t.grads[i].Value().(*tensor.Dense)
		if !ok || d.Dtype() != tensor.Float32 || d.Shape().TotalSize() != len(v.Grad) {
			return fmt.Errorf("nn: gradient of %s is %v, want %d float32 values", v.Name, t.grads[i].Value(), len(v.Grad))
		}
		copy(v.Grad, d.Float32s())
	}
	return nil
}

func (t *trainGraph) close() {
	if !t.closed {
		t.vm.Close()
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
