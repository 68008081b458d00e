package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// pretrainPreset is a two-block ViT small enough for many steps in a test,
// without dropout so that outputs are deterministic functions of the
// weights.
func pretrainPreset() vit.Preset {
	return vit.Preset{Name: "vit_pretrain_test", Dim: 16, Depth: 2, Heads: 2, MLPRatio: 2, PatchSize: 8,
		ImageSize: 32, InChans: 3, QKVBias: true}
}

// backboneParams returns a backbone without classifier head, its weights
// redrawn larger than vit.New's so that every path carries signal.
func backboneParams(t testing.TB, p vit.Preset, seed uint64) *vit.Params {
	t.Helper()
	return redrawnParams(t, p, 0, rand.New(rand.NewPCG(seed, 1)))
}

func testDINOHead(in int) DINOHead {
	return DINOHead{In: in, Hidden: 12, Bottleneck: 8, Out: 10, Layers: 3, BN: true, NormLastLayer: true}
}

func TestHeadParams(t *testing.T) {
	type shape struct {
		name  string
		shape []int
	}
	cases := []struct {
		name   string
		add    func(*vit.Params) error
		bufs   Buffers
		want   []shape
		frozen []string
	}{
		{"dino with bn", func(ps *vit.Params) error { return testDINOHead(16).AddParams(ps, rand.New(rand.NewPCG(1, 1))) },
			testDINOHead(16).Buffers(), []shape{
				{"head.mlp.0.weight", []int{12, 16}}, {"head.mlp.0.bias", []int{12}}, {"head.mlp.1.weight", []int{12}}, {"head.mlp.1.bias", []int{12}},
				{"head.mlp.3.weight", []int{12, 12}}, {"head.mlp.3.bias", []int{12}}, {"head.mlp.4.weight", []int{12}}, {"head.mlp.4.bias", []int{12}},
				{"head.mlp.6.weight", []int{8, 12}}, {"head.mlp.6.bias", []int{8}},
				{"head.last_layer.weight_g", []int{10, 1}}, {"head.last_layer.weight_v", []int{10, 8}},
			}, []string{"head.last_layer.weight_g"}},
		{"dino without bn, ibot patch layer", func(ps *vit.Params) error {
			return DINOHead{In: 16, Hidden: 12, Bottleneck: 8, Out: 10, Layers: 2, PatchOut: 6}.AddParams(ps, rand.New(rand.NewPCG(1, 1)))
		}, Buffers{}, []shape{
			{"head.mlp.0.weight", []int{12, 16}}, {"head.mlp.0.bias", []int{12}}, {"head.mlp.2.weight", []int{8, 12}}, {"head.mlp.2.bias", []int{8}},
			{"head.last_layer.weight_g", []int{10, 1}}, {"head.last_layer.weight_v", []int{10, 8}},
			{"head.last_layer2.weight_g", []int{6, 1}}, {"head.last_layer2.weight_v", []int{6, 8}},
		}, nil},
		{"dino, one layer", func(ps *vit.Params) error {
			return DINOHead{In: 16, Hidden: 12, Bottleneck: 8, Out: 10, Layers: 1, BN: true}.AddParams(ps, rand.New(rand.NewPCG(1, 1)))
		}, Buffers{}, []shape{
			{"head.mlp.weight", []int{8, 16}}, {"head.mlp.bias", []int{8}}, {"head.last_layer.weight_g", []int{10, 1}}, {"head.last_layer.weight_v", []int{10, 8}},
		}, nil},
		{"simsiam, seed predictor", func(ps *vit.Params) error {
			return SimSiamHead{In: 16, Hidden: 12, Out: 10, Layers: 3, BN: true}.AddParams(ps, rand.New(rand.NewPCG(1, 1)))
		}, SimSiamHead{In: 16, Hidden: 12, Out: 10, Layers: 3, BN: true}.Buffers(), []shape{
			{"projector.0.weight", []int{12, 16}}, {"projector.1.weight", []int{12}}, {"projector.1.bias", []int{12}},
			{"projector.3.weight", []int{12, 12}}, {"projector.4.weight", []int{12}}, {"projector.4.bias", []int{12}},
			{"projector.6.weight", []int{10, 12}}, // the last BatchNorm has no affine parameters
			{"predictor.weight", []int{10, 10}}, {"predictor.bias", []int{10}},
		}, nil},
		{"simsiam, bottleneck predictor, no bn", func(ps *vit.Params) error {
			return SimSiamHead{In: 16, Hidden: 12, Out: 10, Layers: 2, PredHidden: 4}.AddParams(ps, rand.New(rand.NewPCG(1, 1)))
		}, SimSiamHead{In: 16, Hidden: 12, Out: 10, Layers: 2, PredHidden: 4}.Buffers(), []shape{
			{"projector.0.weight", []int{12, 16}}, {"projector.0.bias", []int{12}}, {"projector.2.weight", []int{10, 12}}, {"projector.2.bias", []int{10}},
			{"predictor.0.weight", []int{4, 10}}, {"predictor.1.weight", []int{4}}, {"predictor.1.bias", []int{4}},
			{"predictor.3.weight", []int{10, 4}}, {"predictor.3.bias", []int{10}},
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ps vit.Params
			if err := c.add(&ps); err != nil {
				t.Fatal(err)
			}
			var got []shape
			for _, p := range ps.List() {
				got = append(got, shape{p.Name, p.Shape})
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v\nwant %v", got, c.want)
			}
			for i := range got {
				if got[i].name != c.want[i].name || !slices.Equal(got[i].shape, c.want[i].shape) {
					t.Errorf("parameter %d: %s %v, want %s %v", i, got[i].name, got[i].shape, c.want[i].name, c.want[i].shape)
				}
			}
			for name, v := range c.bufs {
				want := float32(0)
				if strings.HasSuffix(name, "running_var") {
					want = 1
				}
				if v[0] != want {
					t.Errorf("buffer %s starts at %g, want %g", name, v[0], want)
				}
			}
			if g := ps.Get("head.last_layer.weight_g"); g != nil && g.Data[0] != 1 {
				t.Errorf("weight_g starts at %g, want 1", g.Data[0])
			}
			for _, f := range c.frozen {
				if !testDINOHead(16).Frozen(f) {
					t.Errorf("%s is trained with norm_last_layer", f)
				}
			}
		})
	}
}

// refHead computes a head in float64 from its layer list, BatchNorms on
// batch statistics over groups row groups: the reference the graphs are
// checked against.
func refHead(t *testing.T, ps *vit.Params, ls []layer, x [][]float64, groups int) [][]float64 {
	t.Helper()
	get := func(name string) []float32 {
		p := ps.Get(name)
		if p == nil {
			t.Fatalf("no parameter %s", name)
		}
		return p.Data
	}
	linear := func(x [][]float64, w, b []float32, out int) [][]float64 {
		y := make([][]float64, len(x))
		for r, row := range x {
			y[r] = make([]float64, out)
			for o := range out {
				s := 0.0
				if b != nil {
					s = float64(b[o])
				}
				for j, v := range row {
					s += float64(w[o*len(row)+j]) * v
				}
				y[r][o] = s
			}
		}
		return y
	}
	for _, l := range ls {
		switch l.kind {
		case kindLinear:
			var b []float32
			if l.bias {
				b = get(l.name + ".bias")
			}
			x = linear(x, get(l.name+".weight"), b, l.out)
		case kindBN:
			per := len(x) / groups
			for g := range groups {
				rows := x[g*per : (g+1)*per]
				for j := range rows[0] {
					var m, v float64
					for _, r := range rows {
						m += r[j]
					}
					m /= float64(per)
					for _, r := range rows {
						v += (r[j] - m) * (r[j] - m)
					}
					v /= float64(per)
					for _, r := range rows {
						r[j] = (r[j] - m) / math.Sqrt(v+bnEps)
						if l.affine {
							r[j] = r[j]*float64(get(l.name + ".weight")[j]) + float64(get(l.name + ".bias")[j])
						}
					}
				}
			}
		case kindGELU, kindReLU:
			for _, r := range x {
				for j, v := range r {
					if l.kind == kindGELU {
						r[j] = v * (1 + math.Erf(v/math.Sqrt2)) / 2
					} else {
						r[j] = max(v, 0)
					}
				}
			}
		case kindL2Norm:
			for _, r := range x {
				var n float64
				for _, v := range r {
					n += v * v
				}
				for j := range r {
					r[j] /= math.Sqrt(n)
				}
			}
		case kindWeightNorm:
			v, g := get(l.name+".weight_v"), get(l.name+".weight_g")
			w := make([]float32, len(v))
			for o := range l.out {
				var n float64
				for j := range l.in {
					n += float64(v[o*l.in+j]) * float64(v[o*l.in+j])
				}
				for j := range l.in {
					w[o*l.in+j] = float32(float64(g[o]) * float64(v[o*l.in+j]) / math.Sqrt(n))
				}
			}
			x = linear(x, w, nil, l.out)
		}
	}
	return x
}

// evalTokens runs the backbone in evaluation mode and returns every
// token's features (rows of N·T) in float64.
func evalTokens(t *testing.T, ps *vit.Params, images []float32, n, size int) ([][]float64, int) {
	t.Helper()
	g := gorgonia.NewGraph()
	bb, err := NewBackbone(g, ps, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	f, err := bb.Forward(n, size, 0)
	if err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g, gorgonia.EvalMode())
	defer vm.Close()
	if err := f.SetImages(images); err != nil {
		t.Fatal(err)
	}
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	vals := f.Tokens.Value().(*tensor.Dense).Float32s()
	d := ps.Preset.Dim
	rows := make([][]float64, len(vals)/d)
	for r := range rows {
		rows[r] = make([]float64, d)
		for j := range d {
			rows[r][j] = float64(vals[r*d+j])
		}
	}
	return rows, f.T
}

// TestTeacherMatchesReference checks the teacher's outputs, DINO's on the
// class tokens and iBOT's on every token, against the float64 reference
// head on the backbone's features.
func TestTeacherMatchesReference(t *testing.T) {
	p := pretrainPreset()
	p.DropPath, p.AttnDrop = 0.1, 0.2 // the teacher must not drop anything
	const batch = 3
	for _, tc := range []struct {
		name string
		ibot bool
		head DINOHead
	}{
		{"dino", false, testDINOHead(p.Dim)},
		{"ibot, shared head", true, testDINOHead(p.Dim)},
		{"ibot, patch last layer", true, DINOHead{In: p.Dim, Hidden: 12, Bottleneck: 8, Out: 10, Layers: 2, BN: true, PatchOut: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bb := backboneParams(t, p, 3)
			var head vit.Params
			if err := tc.head.AddParams(&head, rand.New(rand.NewPCG(4, 4))); err != nil {
				t.Fatal(err)
			}
			opt := DINOOptions{Head: tc.head, Batch: batch, GlobalSize: 32, IBOT: tc.ibot, StudentTemp: 0.1}
			teacher, err := NewDINOTeacher(bb, &head, tc.head.Buffers(), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer teacher.Close()
			images := randomImages(7, Globals*batch, 32)
			cls, patch, err := teacher.Forward(images)
			if err != nil {
				t.Fatal(err)
			}
			tokens, T := evalTokens(t, bb, images, Globals*batch, 32)
			in := tokens
			if !tc.ibot {
				in = nil
				for i := range Globals * batch {
					in = append(in, tokens[i*T])
				}
			}
			mlp := refHead(t, &head, tc.head.mlp(), in, 1)
			lc, lp := tc.head.lastLayers()
			copyRows := func(x [][]float64) [][]float64 {
				out := make([][]float64, len(x))
				for i, r := range x {
					out[i] = slices.Clone(r)
				}
				return out
			}
			wantCLS := refHead(t, &head, []layer{lc}, copyRows(mlp), 1)
			wantPatch := refHead(t, &head, []layer{lp}, copyRows(mlp), 1)
			var gotCLS, gotPatch []float64
			for _, v := range cls {
				gotCLS = append(gotCLS, float64(v))
			}
			var refCLS, refPatch []float64
			for i, r := range wantCLS {
				if !tc.ibot || i%T == 0 {
					refCLS = append(refCLS, r...)
				}
			}
			if e := relDiff(gotCLS, refCLS, 1e-3); e > 1e-4 {
				t.Errorf("class-token outputs differ from the reference by %.3g", e)
			}
			if !tc.ibot {
				if patch != nil {
					t.Error("DINO teacher returned patch outputs")
				}
				return
			}
			for i, r := range wantPatch {
				if i%T != 0 {
					refPatch = append(refPatch, r...)
				}
			}
			for _, v := range patch {
				gotPatch = append(gotPatch, float64(v))
			}
			if e := relDiff(gotPatch, refPatch, 1e-3); e > 1e-4 {
				t.Errorf("patch outputs differ from the reference by %.3g (%d vs %d values)", e, len(gotPatch), len(refPatch))
			}
		})
	}
}

// studentSetup builds a DINO or iBOT student and teacher on the same
// weights and a batch for them.
type studentSetup struct {
	student *DINOStudent
	teacher *DINOTeacher
	batch   DINOBatch
	targets DINOTargets
	vars    map[string][]float32
}

// studentHead draws h's parameters and, for iBOT, adds a mask token of
// 0.5s.
func studentHead(t *testing.T, h DINOHead, ibot bool) *vit.Params {
	t.Helper()
	head := &vit.Params{}
	if err := h.AddParams(head, rand.New(rand.NewPCG(6, 6))); err != nil {
		t.Fatal(err)
	}
	if ibot {
		if err := AddMaskToken(head, h.In); err != nil {
			t.Fatal(err)
		}
		for i := range head.Get(MaskTokenName).Data {
			head.Get(MaskTokenName).Data[i] = 0.5
		}
	}
	return head
}

// teacherHead copies a student's head less the mask token.
func teacherHead(head *vit.Params) *vit.Params {
	out := &vit.Params{}
	for _, q := range head.List() {
		if q.Name != MaskTokenName {
			c, _ := out.Add(q.Name, q.Shape)
			copy(c.Data, q.Data)
		}
	}
	return out
}

func newStudentSetup(t *testing.T, ibot bool, patchOut int) *studentSetup {
	t.Helper()
	p := pretrainPreset()
	const batch, locals = 3, 2
	h := testDINOHead(p.Dim)
	h.PatchOut = patchOut
	bb := backboneParams(t, p, 5)
	head := studentHead(t, h, ibot)
	opt := DINOOptions{Head: h, Batch: batch, GlobalSize: 32, LocalCrops: locals, LocalSize: 16, IBOT: ibot, StudentTemp: 0.1, Seed: 1}
	s := &studentSetup{}
	var err error
	if s.student, err = NewDINOStudent(bb, head, h.Buffers(), opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.student.Close)
	if s.teacher, err = NewDINOTeacher(bb.Clone(), teacherHead(head), h.Buffers(), opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.teacher.Close)
	s.batch = DINOBatch{Globals: randomImages(8, Globals*batch, 32), Locals: randomImages(9, locals*batch, 16)}
	cls, patch, err := s.teacher.Forward(s.batch.Globals)
	if err != nil {
		t.Fatal(err)
	}
	s.targets = DINOTargets{CLS: softmaxRows(cls, h.Out, 0.04), Lambda1: 1, Lambda2: 1}
	if ibot {
		kp := h.Out
		if patchOut > 0 {
			kp = patchOut
		}
		s.targets.Patch = softmaxRows(patch, kp, 0.07)
		P := opt.patches(p)
		s.batch.Masks = make([]bool, Globals*batch*P)
		for i := range s.batch.Masks {
			s.batch.Masks[i] = i%3 == 0
		}
	}
	s.vars = map[string][]float32{}
	for _, v := range s.student.Vars() {
		s.vars[v.Name] = v.Grad
	}
	return s
}

// softmaxRows returns softmax(x/temp) row by row.
func softmaxRows(x []float32, k int, temp float64) []float32 {
	out := make([]float32, len(x))
	for r := 0; r < len(x)/k; r++ {
		mx := math.Inf(-1)
		for _, v := range x[r*k : (r+1)*k] {
			mx = max(mx, float64(v)/temp)
		}
		var sum float64
		for _, v := range x[r*k : (r+1)*k] {
			sum += math.Exp(float64(v)/temp - mx)
		}
		for j, v := range x[r*k : (r+1)*k] {
			out[r*k+j] = float32(math.Exp(float64(v)/temp-mx) / sum)
		}
	}
	return out
}

// TestStudentDescends takes a small gradient step on one batch: the loss
// must fall, which it does only if every gradient points the right way.
func TestStudentDescends(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ibot     bool
		patchOut int
	}{{"dino", false, 0}, {"ibot", true, 0}, {"ibot, patch last layer", true, 6}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStudentSetup(t, tc.ibot, tc.patchOut)
			before, err := s.student.TrainStep(s.batch, s.targets)
			if err != nil {
				t.Fatal(err)
			}
			if before.CLS <= 0 || (tc.ibot && before.Patch <= 0) {
				t.Fatalf("loss %+v: want positive parts", before)
			}
			vars := s.student.Vars()
			checkStudentFD(t, s, vars, tc.ibot)
			var sq float64
			for _, v := range vars {
				for _, g := range v.Grad {
					sq += float64(g) * float64(g)
				}
			}
			lr := 1e-2 / math.Sqrt(sq)
			for _, v := range vars {
				for i, g := range v.Grad {
					v.Data[i] -= float32(lr * float64(g))
				}
			}
			after, err := s.student.TrainStep(s.batch, s.targets)
			if err != nil {
				t.Fatal(err)
			}
			if after.CLS+after.Patch >= before.CLS+before.Patch {
				t.Errorf("a step against the gradient did not lower the loss: %+v -> %+v", before, after)
			}
			if g := s.vars["patch_embed.proj.weight"]; slices.Max(g) == 0 && slices.Min(g) == 0 {
				t.Error("no gradient reaches the backbone")
			}
			if _, ok := s.vars["head.last_layer.weight_g"]; ok {
				t.Error("weight_g is trained although norm_last_layer fixes it")
			}
		})
	}
}

// checkStudentFD compares a few coordinates of the gradient with central
// differences of the float32 loss, loosely: enough to catch a gradient
// missing a path or a term.
func checkStudentFD(t *testing.T, s *studentSetup, vars []optim.Var, ibot bool) {
	t.Helper()
	loss := func() float64 {
		l, err := s.student.TrainStep(s.batch, s.targets)
		if err != nil {
			t.Fatal(err)
		}
		return l.CLS + l.Patch
	}
	loss()
	probes := []string{"patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "pos_embed", "head.mlp.1.weight", "head.last_layer.weight_v"}
	if ibot {
		probes = append(probes, MaskTokenName)
	}
	analytic := map[string][]float32{}
	for _, v := range vars {
		analytic[v.Name] = slices.Clone(v.Grad)
	}
	for _, v := range vars {
		if !slices.Contains(probes, v.Name) {
			continue
		}
		// The coordinate with the largest gradient, where float32
		// differences are most reliable.
		i := 0
		for j, g := range analytic[v.Name] {
			if math.Abs(float64(g)) > math.Abs(float64(analytic[v.Name][i])) {
				i = j
			}
		}
		const h = 1e-3
		x := v.Data[i]
		v.Data[i] = x + h
		up := loss()
		v.Data[i] = x - h
		down := loss()
		v.Data[i] = x
		num, an := (up-down)/(2*h), float64(analytic[v.Name][i])
		if math.Abs(num-an) > 0.03*math.Abs(an)+1e-4 {
			t.Errorf("%s[%d]: gradient %g, central difference %g", v.Name, i, an, num)
		}
	}
	loss()
}

// TestIBOTPatchLossReadsMaskedTokensOnly changes the teacher's patch
// targets of unmasked patches, which must change nothing, and of one
// masked patch, which must change the patch loss; without masks the patch
// loss is 0.
func TestIBOTPatchLossReadsMaskedTokensOnly(t *testing.T) {
	s := newStudentSetup(t, true, 0)
	base, err := s.student.TrainStep(s.batch, s.targets)
	if err != nil {
		t.Fatal(err)
	}
	k := len(s.targets.Patch) / len(s.batch.Masks)
	perturbed := slices.Clone(s.targets.Patch)
	firstMasked := -1
	for i, m := range s.batch.Masks {
		if m {
			if firstMasked < 0 {
				firstMasked = i
			}
			continue
		}
		for j := range k {
			perturbed[i*k+j] = 1 / float32(k) // uniform instead of the teacher's
		}
	}
	tg := s.targets
	tg.Patch = perturbed
	got, err := s.student.TrainStep(s.batch, tg)
	if err != nil {
		t.Fatal(err)
	}
	if got != base {
		t.Errorf("changing unmasked patch targets moved the loss: %+v -> %+v", base, got)
	}
	for j := range k {
		perturbed[firstMasked*k+j] = 1 / float32(k)
	}
	if got, err = s.student.TrainStep(s.batch, tg); err != nil {
		t.Fatal(err)
	}
	if got.Patch == base.Patch || got.CLS != base.CLS {
		t.Errorf("changing a masked patch target: loss %+v -> %+v, want only the patch part to move", base, got)
	}
	b := s.batch
	b.Masks = make([]bool, len(b.Masks))
	if got, err = s.student.TrainStep(b, s.targets); err != nil {
		t.Fatal(err)
	}
	if got.Patch != 0 {
		t.Errorf("patch loss %g without masks, want 0", got.Patch)
	}
	if tok := s.vars[MaskTokenName]; slices.Max(tok) != 0 || slices.Min(tok) != 0 {
		t.Error("the mask token has a gradient although no patch is masked")
	}
}

// TestSimSiamNet checks the projections against the float64 reference
// and that one step against the gradient lowers the loss, the predictor
// included in the trained parameters.
func TestSimSiamNet(t *testing.T) {
	p := pretrainPreset()
	const batch = 4
	for _, h := range []SimSiamHead{
		{In: p.Dim, Hidden: 12, Out: 10, Layers: 3, BN: true},
		{In: p.Dim, Hidden: 12, Out: 10, Layers: 2, BN: true, PredHidden: 4},
	} {
		bb := backboneParams(t, p, 11)
		var head vit.Params
		if err := h.AddParams(&head, rand.New(rand.NewPCG(12, 12))); err != nil {
			t.Fatal(err)
		}
		net, err := NewSimSiam(bb, &head, h.Buffers(), SimSiamOptions{Head: h, Batch: batch, Size: 32, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		views := randomImages(13, 2*batch, 32)
		before, err := net.TrainStep(views)
		if err != nil {
			t.Fatal(err)
		}
		if before < -1 || before > 1 {
			t.Fatalf("loss %g outside [-1, 1]", before)
		}
		tokens, T := evalTokens(t, bb, views, 2*batch, 32)
		var cls [][]float64
		for i := range 2 * batch {
			cls = append(cls, tokens[i*T])
		}
		want := refHead(t, &head, h.projector(), cls, 2)
		var got, ref []float64
		for _, v := range net.Projections() {
			got = append(got, float64(v))
		}
		for _, r := range want {
			ref = append(ref, r...)
		}
		if e := relDiff(got, ref, 1e-3); e > 1e-4 {
			t.Errorf("%+v: projections differ from the reference by %.3g", h, e)
		}
		var sq float64
		trained := map[string]bool{}
		for _, v := range net.Vars() {
			trained[v.Name] = true
			for _, g := range v.Grad {
				sq += float64(g) * float64(g)
			}
		}
		if !trained["predictor.weight"] && !trained["predictor.0.weight"] {
			t.Errorf("%+v: the predictor is not trained", h)
		}
		for _, v := range net.Vars() {
			for i, g := range v.Grad {
				v.Data[i] -= float32(1e-2 / math.Sqrt(sq) * float64(g))
			}
		}
		after, err := net.TrainStep(views)
		if err != nil {
			t.Fatal(err)
		}
		if after >= before {
			t.Errorf("%+v: a step against the gradient did not lower the loss: %g -> %g", h, before, after)
		}
	}
}

func TestPretrainNetErrors(t *testing.T) {
	p := pretrainPreset()
	bb := backboneParams(t, p, 1)
	h := testDINOHead(p.Dim)
	var head vit.Params
	if err := h.AddParams(&head, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatal(err)
	}
	opt := DINOOptions{Head: h, Batch: 2, GlobalSize: 32, StudentTemp: 0.1}
	for _, c := range []struct {
		name  string
		build func() error
		want  string
	}{
		{"head width", func() error {
			o := opt
			o.Head.In = 8
			_, err := NewDINOTeacher(bb, &head, h.Buffers(), o)
			return err
		}, "head input 8, backbone width 16"},
		{"ibot without mask token", func() error {
			o := opt
			o.IBOT = true
			_, err := NewDINOStudent(bb, &head, h.Buffers(), o)
			return err
		}, `head parameter set has 12 tensors, the head takes 13`},
		{"missing buffers", func() error { _, err := NewDINOTeacher(bb, &head, Buffers{}, opt); return err }, "no running statistics for head.mlp.1"},
		{"temperature", func() error {
			o := opt
			o.StudentTemp = 0
			_, err := NewDINOStudent(bb, &head, h.Buffers(), o)
			return err
		}, "student temperature 0"},
		{"simsiam batch", func() error {
			sh := SimSiamHead{In: p.Dim, Hidden: 4, Out: 4, Layers: 1, BN: true}
			_, err := NewSimSiam(bb, &head, sh.Buffers(), SimSiamOptions{Head: sh, Batch: 1, Size: 32})
			return err
		}, "BatchNorm needs at least 2 images"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.build(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
