package vit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Param is one named parameter tensor, row-major float32 with PyTorch's
// shape. NoDecay marks it as exempt from weight decay.
type Param struct {
	Name    string
	Shape   []int
	Data    []float32
	NoDecay bool
}

// Params is an ordered set of parameters with lookup by name. The order is
// PyTorch's named_parameters order, which optimiser state and checkpoints
// follow. The zero value is an empty set; heads add their parameters to it
// with Add.
type Params struct {
	Preset     Preset // the backbone's preset; zero for a set New did not build
	NumClasses int    // the classifier head's outputs, 0 without a head
	list       []*Param
	index      map[string]int
}

// NoDecay is the weight-decay exemption rule: 1-D tensors (LayerNorm
// weights and biases), biases, the position embedding and the class token.
// DINO's get_params_groups exempts the first two; timm's no_weight_decay()
// adds pos_embed and cls_token, which the seed decayed too.
func NoDecay(name string, shape []int) bool {
	return len(shape) == 1 || strings.HasSuffix(name, ".bias") || name == "pos_embed" || name == "cls_token"
}

// Add appends a zeroed parameter of the given shape, with NoDecay set by the
// rule of the same name, and returns it.
func (ps *Params) Add(name string, shape []int) (*Param, error) {
	if name == "" {
		return nil, fmt.Errorf("vit: parameter with an empty name")
	}
	if _, dup := ps.index[name]; dup {
		return nil, fmt.Errorf("vit: parameter %q added twice", name)
	}
	n := 1
	for _, s := range shape {
		if s <= 0 {
			return nil, fmt.Errorf("vit: parameter %q: shape %s has a non-positive size", name, FormatShape(shape))
		}
		n *= s
	}
	if ps.index == nil {
		ps.index = make(map[string]int)
	}
	p := &Param{Name: name, Shape: append([]int(nil), shape...), Data: make([]float32, n), NoDecay: NoDecay(name, shape)}
	ps.index[name] = len(ps.list)
	ps.list = append(ps.list, p)
	return p, nil
}

// Get returns the parameter called name, or nil.
func (ps *Params) Get(name string) *Param {
	if i, ok := ps.index[name]; ok {
		return ps.list[i]
	}
	return nil
}

// List returns the parameters in order. The slice is ps's own: do not
// append to it.
func (ps *Params) List() []*Param { return ps.list }

// Len is the number of parameter tensors.
func (ps *Params) Len() int { return len(ps.list) }

// NumElements is the number of scalar parameters.
func (ps *Params) NumElements() int {
	n := 0
	for _, p := range ps.list {
		n += len(p.Data)
	}
	return n
}

// Clone returns a deep copy of ps (an EMA teacher starts as one).
func (ps *Params) Clone() *Params {
	out := &Params{Preset: ps.Preset, NumClasses: ps.NumClasses, index: make(map[string]int, len(ps.list))}
	for i, p := range ps.list {
		out.list = append(out.list, &Param{Name: p.Name, Shape: append([]int(nil), p.Shape...),
			Data: append([]float32(nil), p.Data...), NoDecay: p.NoDecay})
		out.index[p.Name] = i
	}
	return out
}

// FormatShape writes a shape as PyTorch prints a tuple: (384,), (3, 8, 8).
func FormatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, s := range shape {
		parts[i] = strconv.Itoa(s)
	}
	if len(parts) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// InitStd is the standard deviation of the truncated normal that initialises
// linear weights, the position embedding and the class token.
const InitStd = 0.02

// New builds the parameters of preset p with a numClasses linear head
// (none when numClasses is 0), initialised from rng as DINO's
// VisionTransformer does: trunc_normal_(std=0.02) for the class token, the
// position embedding and every Linear weight, zero Linear biases, LayerNorm
// weights 1 and biases 0. The patch convolution keeps PyTorch's default
// Conv2d init, kaiming_uniform_(a=sqrt(5)), which is U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)) for weight and bias, fan_in = InChans*PatchSize^2 (timm's
// default init leaves it alone too). timm instead draws the class token from
// N(0, 1e-6); DINO's choice is the seed's.
func New(p Preset, numClasses int, rng *rand.Rand) (*Params, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if numClasses < 0 {
		return nil, fmt.Errorf("vit: numClasses is %d, want >= 0", numClasses)
	}
	ps := &Params{Preset: p, NumClasses: numClasses}
	d, hidden, g := p.Dim, p.MLPRatio*p.Dim, p.Grid(p.ImageSize)
	fanIn := p.InChans * p.PatchSize * p.PatchSize
	convBound := 1 / math.Sqrt(float64(fanIn))

	// Each step adds one tensor and initialises it; the order is
	// named_parameters order, so the draws from rng are too.
	type spec struct {
		name  string
		shape []int
		init  func(rng *rand.Rand, x []float32)
	}
	trunc := func(rng *rand.Rand, x []float32) { truncNormal(rng, x, InitStd, -2, 2) }
	uniform := func(rng *rand.Rand, x []float32) { uniformFill(rng, x, convBound) }
	zeros := func(*rand.Rand, []float32) {}
	ones := func(_ *rand.Rand, x []float32) {
		for i := range x {
			x[i] = 1
		}
	}
	specs := []spec{
		{"cls_token", []int{1, 1, d}, trunc},
		{"pos_embed", []int{1, g*g + 1, d}, trunc},
		{"patch_embed.proj.weight", []int{d, p.InChans, p.PatchSize, p.PatchSize}, uniform},
		{"patch_embed.proj.bias", []int{d}, uniform},
	}
	for i := 0; i < p.Depth; i++ {
		b := "blocks." + strconv.Itoa(i) + "."
		specs = append(specs,
			spec{b + "norm1.weight", []int{d}, ones},
			spec{b + "norm1.bias", []int{d}, zeros},
			spec{b + "attn.qkv.weight", []int{3 * d, d}, trunc})
		if p.QKVBias {
			specs = append(specs, spec{b + "attn.qkv.bias", []int{3 * d}, zeros})
		}
		specs = append(specs,
			spec{b + "attn.proj.weight", []int{d, d}, trunc},
			spec{b + "attn.proj.bias", []int{d}, zeros},
			spec{b + "norm2.weight", []int{d}, ones},
			spec{b + "norm2.bias", []int{d}, zeros},
			spec{b + "mlp.fc1.weight", []int{hidden, d}, trunc},
			spec{b + "mlp.fc1.bias", []int{hidden}, zeros},
			spec{b + "mlp.fc2.weight", []int{d, hidden}, trunc},
			spec{b + "mlp.fc2.bias", []int{d}, zeros})
	}
	specs = append(specs, spec{"norm.weight", []int{d}, ones}, spec{"norm.bias", []int{d}, zeros})
	if numClasses > 0 {
		specs = append(specs, spec{"head.weight", []int{numClasses, d}, trunc}, spec{"head.bias", []int{numClasses}, zeros})
	}
	for _, s := range specs {
		t, err := ps.Add(s.name, s.shape)
		if err != nil {
			return nil, err
		}
		s.init(rng, t.Data)
	}
	return ps, nil
}

// truncNormal fills x from N(0, std^2) truncated to [lo, hi] by inverse-CDF
// sampling, as timm's and DINO's trunc_normal_. The bounds are absolute, not
// in units of std: with std 0.02 and [-2, 2] nothing is cut in practice.
func truncNormal(rng *rand.Rand, x []float32, std, lo, hi float64) {
	cdf := func(v float64) float64 { return (1 + math.Erf(v/math.Sqrt2)) / 2 }
	l, u := 2*cdf(lo/std)-1, 2*cdf(hi/std)-1
	for i := range x {
		v := math.Erfinv(l+(u-l)*rng.Float64()) * std * math.Sqrt2
		x[i] = float32(min(max(v, lo), hi))
	}
}

// uniformFill fills x from U(-bound, bound).
func uniformFill(rng *rand.Rand, x []float32, bound float64) {
	for i := range x {
		x[i] = float32((2*rng.Float64() - 1) * bound)
	}
}
