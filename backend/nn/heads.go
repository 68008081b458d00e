package nn

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"gorgonia.org/gorgonia"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/vit"
)

// BatchNorm settings of every head: PyTorch's BatchNorm1d defaults.
const (
	bnEps      = 1e-5
	bnMomentum = 0.1
)

// Buffers hold the state of a head that is not trained: the BatchNorm
// running statistics, [D] each, under PyTorch's buffer names
// (head.mlp.1.running_mean, head.mlp.1.running_var, ...). Training
// forwards update them in place; checkpoints save them.
type Buffers map[string][]float32

// Clone returns a deep copy of b.
func (b Buffers) Clone() Buffers {
	out := make(Buffers, len(b))
	for k, v := range b {
		out[k] = append([]float32(nil), v...)
	}
	return out
}

// layerKind is what one layer of a head computes.
type layerKind int

const (
	kindLinear layerKind = iota
	kindBN               // BatchNorm1d
	kindGELU
	kindReLU
	kindL2Norm     // F.normalize over the features
	kindWeightNorm // a weight-normed Linear without bias
)

// layer is one layer of a head; name is its parameters' prefix, as the
// PyTorch module path (head.mlp.0).
type layer struct {
	kind    layerKind
	name    string
	in, out int
	bias    bool // Linear
	affine  bool // BatchNorm
}

// sequential collects layers named as the entries of a PyTorch
// nn.Sequential: prefix.0, prefix.1, ... in the order they are added.
type sequential struct {
	prefix string
	layers []layer
}

func (s *sequential) add(l layer) {
	l.name = s.prefix + "." + strconv.Itoa(len(s.layers))
	s.layers = append(s.layers, l)
}

// DINOHead is DINO's projection head: an MLP of Layers Linear layers
// In -> Hidden -> ... -> Bottleneck with GELU (and BatchNorm when BN)
// between them, L2 normalisation, and a weight-normed Linear(Bottleneck,
// Out) without bias whose row norms (weight_g) stay at 1 when
// NormLastLayer. Parameters are named as DINO's DINOHead inside its
// MultiCropWrapper: head.mlp.<i>.weight, head.mlp.<i>.bias (i the
// nn.Sequential index; "head.mlp.weight" for a single layer),
// head.last_layer.weight_g [Out, 1] and head.last_layer.weight_v [Out,
// Bottleneck]. iBOT's patch tokens share the MLP; with PatchOut > 0 they
// get their own last layer, head.last_layer2 (iBOT's shared_head false).
type DINOHead struct {
	In, Hidden, Bottleneck, Out int
	Layers                      int
	BN                          bool
	NormLastLayer               bool
	PatchOut                    int
}

// Validate checks the sizes.
func (h DINOHead) Validate() error {
	if h.In <= 0 || h.Hidden <= 0 || h.Bottleneck <= 0 || h.Out <= 0 || h.Layers < 1 || h.PatchOut < 0 {
		return fmt.Errorf("nn: DINO head %+v: want positive sizes and at least one layer", h)
	}
	return nil
}

// mlp lists the layers up to and including the L2 normalisation.
func (h DINOHead) mlp() []layer {
	if h.Layers == 1 {
		return []layer{{kind: kindLinear, name: "head.mlp", in: h.In, out: h.Bottleneck, bias: true}, {kind: kindL2Norm}}
	}
	s, in := sequential{prefix: "head.mlp"}, h.In
	for range h.Layers - 1 {
		s.add(layer{kind: kindLinear, in: in, out: h.Hidden, bias: true})
		if h.BN {
			s.add(layer{kind: kindBN, in: h.Hidden, out: h.Hidden, affine: true})
		}
		s.add(layer{kind: kindGELU})
		in = h.Hidden
	}
	s.add(layer{kind: kindLinear, in: in, out: h.Bottleneck, bias: true})
	return append(s.layers, layer{kind: kindL2Norm})
}

// lastLayers returns the class-token last layer and the patch one (the
// same unless PatchOut > 0).
func (h DINOHead) lastLayers() (cls, patch layer) {
	cls = layer{kind: kindWeightNorm, name: "head.last_layer", in: h.Bottleneck, out: h.Out}
	patch = cls
	if h.PatchOut > 0 {
		patch = layer{kind: kindWeightNorm, name: "head.last_layer2", in: h.Bottleneck, out: h.PatchOut}
	}
	return cls, patch
}

func (h DINOHead) layers() []layer {
	cls, patch := h.lastLayers()
	ls := append(h.mlp(), cls)
	if h.PatchOut > 0 {
		ls = append(ls, patch)
	}
	return ls
}

// AddParams adds the head's parameters to ps, initialised as DINO does:
// MLP weights trunc_normal_(0.02) with zero biases, BatchNorm weights 1 and
// biases 0, the last layer's direction from PyTorch's default Linear init
// and its magnitude 1.
func (h DINOHead) AddParams(ps *vit.Params, rng *rand.Rand) error {
	if err := h.Validate(); err != nil {
		return err
	}
	return addLayerParams(ps, h.layers(), rng, vit.TruncNormal)
}

// Buffers returns fresh running statistics for the head's BatchNorms
// (mean 0, variance 1).
func (h DINOHead) Buffers() Buffers { return layerBuffers(h.layers()) }

// Frozen reports the parameters the head never trains: the last layers'
// weight_g when NormLastLayer.
func (h DINOHead) Frozen(name string) bool {
	return h.NormLastLayer && (name == "head.last_layer.weight_g" || name == "head.last_layer2.weight_g")
}

// SimSiamHead is SimSiam's projector and predictor. The projector has
// Layers Linear layers In -> Hidden -> ... -> Out, each but the last
// followed by BatchNorm (when BN) and ReLU, the last by a BatchNorm
// without affine parameters (when BN), as the paper's encoder.fc; Linear
// layers followed by a BatchNorm have no bias. The predictor is one
// Linear(Out, Out) when PredHidden is 0 (the reference configs'
// effective predictor), else the paper's bottleneck Linear(Out,
// PredHidden, no bias)-BN-ReLU-Linear(PredHidden, Out). Parameters are
// named projector.<i>.weight and predictor.<i>.weight (predictor.weight
// for the single layer) after the nn.Sequential indices.
type SimSiamHead struct {
	In, Hidden, Out int
	Layers          int
	BN              bool
	PredHidden      int
}

// Validate checks the sizes.
func (h SimSiamHead) Validate() error {
	if h.In <= 0 || h.Hidden <= 0 || h.Out <= 0 || h.Layers < 1 || h.PredHidden < 0 {
		return fmt.Errorf("nn: SimSiam head %+v: want positive sizes and at least one layer", h)
	}
	return nil
}

func (h SimSiamHead) projector() []layer {
	s, in := sequential{prefix: "projector"}, h.In
	for n := range h.Layers {
		out := h.Hidden
		if n == h.Layers-1 {
			out = h.Out
		}
		s.add(layer{kind: kindLinear, in: in, out: out, bias: !h.BN})
		if h.BN {
			s.add(layer{kind: kindBN, in: out, out: out, affine: n < h.Layers-1})
		}
		if n < h.Layers-1 {
			s.add(layer{kind: kindReLU})
		}
		in = out
	}
	return s.layers
}

func (h SimSiamHead) predictor() []layer {
	if h.PredHidden == 0 {
		return []layer{{kind: kindLinear, name: "predictor", in: h.Out, out: h.Out, bias: true}}
	}
	return []layer{
		{kind: kindLinear, name: "predictor.0", in: h.Out, out: h.PredHidden},
		{kind: kindBN, name: "predictor.1", in: h.PredHidden, out: h.PredHidden, affine: true},
		{kind: kindReLU, name: "predictor.2"},
		{kind: kindLinear, name: "predictor.3", in: h.PredHidden, out: h.Out, bias: true},
	}
}

// AddParams adds the projector's and predictor's parameters to ps with
// PyTorch's default initialisation (the paper's).
func (h SimSiamHead) AddParams(ps *vit.Params, rng *rand.Rand) error {
	if err := h.Validate(); err != nil {
		return err
	}
	return addLayerParams(ps, append(h.projector(), h.predictor()...), rng, nil)
}

// Buffers returns fresh running statistics for the BatchNorms.
func (h SimSiamHead) Buffers() Buffers { return layerBuffers(append(h.projector(), h.predictor()...)) }

// addLayerParams adds the parameters of ls to ps. Linear weights come from
// initLinear, or PyTorch's default init when nil; weight-normed layers
// always take the default init for their direction, as DINO builds its last
// layer after initialising the MLP.
func addLayerParams(ps *vit.Params, ls []layer, rng *rand.Rand, initLinear func(*rand.Rand, []float32)) error {
	for _, l := range ls {
		switch l.kind {
		case kindLinear:
			w, err := ps.Add(l.name+".weight", []int{l.out, l.in})
			if err != nil {
				return err
			}
			var b *vit.Param
			if l.bias {
				if b, err = ps.Add(l.name+".bias", []int{l.out}); err != nil {
					return err
				}
			}
			if initLinear != nil {
				initLinear(rng, w.Data) // the bias stays 0
			} else {
				vit.LinearDefault(rng, w.Data, l.in)
				if b != nil {
					vit.LinearDefault(rng, b.Data, l.in)
				}
			}
		case kindBN:
			if !l.affine {
				continue
			}
			w, err := ps.Add(l.name+".weight", []int{l.out})
			if err != nil {
				return err
			}
			for i := range w.Data {
				w.Data[i] = 1
			}
			if _, err := ps.Add(l.name+".bias", []int{l.out}); err != nil {
				return err
			}
		case kindWeightNorm:
			g, err := ps.Add(l.name+".weight_g", []int{l.out, 1})
			if err != nil {
				return err
			}
			v, err := ps.Add(l.name+".weight_v", []int{l.out, l.in})
			if err != nil {
				return err
			}
			vit.LinearDefault(rng, v.Data, l.in)
			for i := range g.Data {
				g.Data[i] = 1
			}
		}
	}
	return nil
}

// layerBuffers returns running statistics for the BatchNorms of ls.
func layerBuffers(ls []layer) Buffers {
	b := Buffers{}
	for _, l := range ls {
		if l.kind != kindBN {
			continue
		}
		v := make([]float32, l.out)
		for i := range v {
			v[i] = 1
		}
		b[l.name+".running_mean"], b[l.name+".running_var"] = make([]float32, l.out), v
	}
	return b
}

// headGraph is a head's parameters as nodes of one graph.
type headGraph struct {
	nodes map[string]*gorgonia.Node
	bufs  Buffers
	st    *storage
}

// newHeadGraph adds a node for every parameter of ps to g, its values kept
// by st.
func newHeadGraph(g *gorgonia.ExprGraph, st *storage, ps *vit.Params, bufs Buffers) *headGraph {
	h := &headGraph{nodes: make(map[string]*gorgonia.Node, ps.Len()), bufs: bufs, st: st}
	for _, q := range ps.List() {
		h.nodes[q.Name] = st.node(g, q, q.Shape)
	}
	return h
}

// apply adds layers ls to x [R, In]; BatchNorms normalise groups row
// groups separately. A failure is recorded in g with the layer's name.
func (h *headGraph) apply(g *builder, x *gorgonia.Node, ls []layer, groups int) *gorgonia.Node {
	for _, l := range ls {
		if x = h.layer(g, x, l, groups); g.err != nil {
			g.err = fmt.Errorf("nn: %s: %w", l.name, g.err)
			return nil
		}
	}
	return x
}

// layer adds one layer to x.
func (h *headGraph) layer(g *builder, x *gorgonia.Node, l layer, groups int) *gorgonia.Node {
	param := func(suffix string) *gorgonia.Node { return g.param(h.nodes, l.name+suffix) }
	switch l.kind {
	case kindLinear:
		var b *gorgonia.Node
		if l.bias {
			b = param(".bias")
		}
		return g.linear(x, param(".weight"), b)
	case kindBN:
		mean, vari := h.bufs[l.name+".running_mean"], h.bufs[l.name+".running_var"]
		if mean == nil || vari == nil {
			return g.fail(fmt.Errorf("head has no running statistics for %s", l.name))
		}
		var gamma, beta *gorgonia.Node
		if l.affine {
			gamma, beta = param(".weight"), param(".bias")
		}
		return g.batchNorm(x, gamma, beta, ops.BatchNormConfig{Eps: bnEps, Momentum: bnMomentum, Groups: groups, Mean: mean, Var: vari})
	case kindGELU:
		return g.gelu(x)
	case kindReLU:
		return g.relu(x)
	case kindL2Norm:
		return g.l2Normalize(x)
	case kindWeightNorm:
		return g.linear(x, g.weightNorm(param(".weight_v"), param(".weight_g")), nil)
	}
	return x
}
