package optim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/nn/vit"
)

// The reference problem: a weight w (decayed) and a bias b (NoDecay, so
// weight decay 0 in its PyTorch parameter group), three steps with their own
// gradients, learning rates and weight decays.
var (
	w0     = []float32{1, -2, 0.5}
	b0     = []float32{0.3, -0.1, 0.2}
	wGrads = [][]float32{{0.1, -0.2, 0.3}, {-0.05, 0.4, 0.3}, {0.2, 0, -0.1}}
	bGrads = [][]float32{{1, 2, -3}, {0.5, -0.5, 0.25}, {0, 1, 1}}
	lrs    = []float64{0.1, 0.05, 0.02}
	wds    = []float64{0.1, 0.2, 0.3}
)

func refVars() []Var {
	return []Var{
		{Name: "w", Data: slices.Clone(w0), Grad: make([]float32, 3)},
		{Name: "b", Data: slices.Clone(b0), Grad: make([]float32, 3), NoDecay: true},
	}
}

// TestAgainstPyTorch checks three steps of each algorithm. Step 1 by hand
// from the update equations (Adam's first step moves each weight by lr
// against the sign of its gradient, bias correction cancelling the betas):
//
//	Adam:  g+wd*w = (0.2, -0.4, 0.35), w = w - 0.1*sign = (0.9, -1.9, 0.4)
//	AdamW: w*(1-0.1*0.1) = (0.99, -1.98, 0.495), minus 0.1*sign(g) = (0.89, -1.88, 0.395)
//	SGD:   d = g+wd*w = (0.2, -0.4, 0.35), b = d, w - 0.1*d = (0.98, -1.96, 0.465)
//
// The bias moves without decay: Adam(W) b - 0.1*sign(g) = (0.2, -0.2, 0.3),
// SGD b - 0.1*g = (0.2, -0.3, 0.5). Steps 2 and 3 are torch 1.13's
// torch.optim.{Adam,AdamW,SGD} in float64 on the same problem.
func TestAgainstPyTorch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		newOpt    func([]Var) (Optimizer, error)
		w, b      [3][]float64
		state     map[string][]float64
		stateTols float64
	}{
		{
			name:   "Adam",
			newOpt: func(v []Var) (Optimizer, error) { return NewAdam(v) },
			w: [3][]float64{{0.900000005, -1.9000000025, 0.400000002857},
				{0.851629453255, -1.86839788128, 0.349935144254},
				{0.833375255314, -1.85232205237, 0.334332497746}},
			b: [3][]float64{{0.200000001, -0.1999999995, 0.299999999667},
				{0.153391019649, -0.223473407899, 0.33029567443},
				{0.138979468621, -0.235582889778, 0.335153346444}},
			state: map[string][]float64{
				"exp_avg.w":    {0.0734488836876, -0.0866519364833, 0.063048054379},
				"exp_avg_sq.w": {0.000264273219959, 0.000474261717828, 0.000266535528745},
			},
		},
		{
			name:   "AdamW",
			newOpt: func(v []Var) (Optimizer, error) { return NewAdamW(v) },
			w: [3][]float64{{0.89000001, -1.880000005, 0.395000003333},
				{0.867783159602, -1.87950518072, 0.341050004967},
				{0.849414229634, -1.87388813117, 0.32688974657}},
			b: [3][]float64{{0.200000001, -0.1999999995, 0.299999999667},
				{0.153391019649, -0.223473407899, 0.33029567443},
				{0.138979468621, -0.235582889778, 0.335153346444}},
			state: map[string][]float64{
				"exp_avg.w":    {0.0236, 0.0198, 0.0413},
				"exp_avg_sq.w": {5.247751e-05, 0.00019976004, 0.00018973009},
			},
		},
		{
			name:   "SGD",
			newOpt: func(v []Var) (Optimizer, error) { return NewSGD(v, 0.9) },
			w:      [3][]float64{{0.98, -1.96, 0.465}, {0.9637, -1.9424, 0.4296}, {0.9480498, -1.9244096, 0.4162784}},
			b:      [3][]float64{{0.2, -0.3, 0.5}, {0.13, -0.365, 0.6225}, {0.1048, -0.4084, 0.6466}},
			state:  map[string][]float64{"momentum_buffer.w": {0.78251, -0.89952, 0.66608}},
		},
	} {
		vars := refVars()
		opt, err := tc.newOpt(vars)
		if err != nil {
			t.Fatal(err)
		}
		for s := 0; s < 3; s++ {
			copy(vars[0].Grad, wGrads[s])
			copy(vars[1].Grad, bGrads[s])
			opt.Step(lrs[s], wds[s])
			assertClose(t, tc.name+" w", s+1, vars[0].Data, tc.w[s], 2e-6)
			assertClose(t, tc.name+" b", s+1, vars[1].Data, tc.b[s], 2e-6)
		}
		if opt.Steps() != 3 {
			t.Errorf("%s: Steps() = %d, want 3", tc.name, opt.Steps())
		}
		st := opt.State()
		for key, want := range tc.state {
			// Relative: exp_avg_sq values are small.
			scale := 0.0
			for _, v := range want {
				scale = max(scale, math.Abs(v))
			}
			assertClose(t, tc.name+" "+key, 3, st[key], want, 1e-5*scale)
		}
	}
}

func assertClose(t *testing.T, what string, step int, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s after step %d: %d values, want %d", what, step, len(got), len(want))
		return
	}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Errorf("%s after step %d: [%d] = %.9g, want %.9g", what, step, i, got[i], want[i])
		}
	}
}

// TestDecayAll checks the seed's behaviour: the bias decays too. By hand,
// step 1 with lr 0.1 and wd 0.1 on b = (0.3, -0.1, 0.2), g = (1, 2, -3):
// AdamW b*0.99 - 0.1*sign(g) = (0.197, -0.199, 0.298); SGD
// b - 0.1*(g + 0.1*b) = (0.197, -0.299, 0.498).
func TestDecayAll(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []float64
	}{{"AdamW", []float64{0.197, -0.199, 0.298}}, {"SGD", []float64{0.197, -0.299, 0.498}}} {
		vars := refVars()
		opt, err := New(tc.name, vars, true)
		if err != nil {
			t.Fatal(err)
		}
		copy(vars[0].Grad, wGrads[0])
		copy(vars[1].Grad, bGrads[0])
		opt.Step(0.1, 0.1)
		assertClose(t, tc.name+" DecayAll b", 1, vars[1].Data, tc.want, 2e-6)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name      string
		decoupled bool
		sgd       bool
	}{{"Adam", false, false}, {"AdamW", true, false}, {"adamw", true, false}, {"SGD", false, true}} {
		opt, err := New(tc.name, refVars(), false)
		if err != nil {
			t.Fatalf("New(%q): %v", tc.name, err)
		}
		switch o := opt.(type) {
		case *Adam:
			if tc.sgd || o.Decoupled != tc.decoupled || o.Beta1 != 0.9 || o.Beta2 != 0.999 || o.Eps != 1e-8 {
				t.Errorf("New(%q) = %+v", tc.name, o)
			}
		case *SGD:
			if !tc.sgd || o.Momentum != 0.9 {
				t.Errorf("New(%q) = %+v", tc.name, o)
			}
		}
	}
	if _, err := New("LARS", refVars(), false); err == nil || !strings.Contains(err.Error(), "want Adam, AdamW or SGD") {
		t.Errorf("New(LARS): error %v", err)
	}
}

func TestCheckVars(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars []Var
		want string
	}{
		{"empty name", []Var{{Name: "", Data: make([]float32, 1), Grad: make([]float32, 1)}}, "empty name"},
		{"repeated", []Var{{Name: "a", Data: make([]float32, 1), Grad: make([]float32, 1)},
			{Name: "a", Data: make([]float32, 1), Grad: make([]float32, 1)}}, `"a" given twice`},
		{"short grad", []Var{{Name: "a", Data: make([]float32, 3), Grad: make([]float32, 2)}}, "3 values but a gradient of 2"},
	} {
		for _, kind := range []string{"Adam", "SGD"} {
			if _, err := New(kind, tc.vars, false); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s: error %v, want %q", kind, tc.name, err, tc.want)
			}
		}
	}
}

// randomVars returns vars with the given lengths filled from seed.
func randomVars(seed uint64, lengths ...int) []Var {
	rng := rand.New(rand.NewPCG(seed, 1))
	vars := make([]Var, len(lengths))
	for i, n := range lengths {
		vars[i] = Var{Name: string(rune('a' + i)), Data: make([]float32, n), Grad: make([]float32, n), NoDecay: i%2 == 1}
		for j := range vars[i].Data {
			vars[i].Data[j] = float32(rng.NormFloat64())
			vars[i].Grad[j] = float32(rng.NormFloat64())
		}
	}
	return vars
}

// TestParallelUpdateMatchesSerial runs one big tensor (updated by two
// goroutines) against the same values cut into pieces below parallelMin
// (updated serially): the results must be identical.
func TestParallelUpdateMatchesSerial(t *testing.T) {
	n := 2*parallelMin + 7
	for _, kind := range []string{"Adam", "AdamW", "SGD"} {
		big := randomVars(7, n)
		var pieces []Var
		for lo := 0; lo < n; lo += parallelMin / 2 {
			hi := min(lo+parallelMin/2, n)
			pieces = append(pieces, Var{Name: string(rune('A' + len(pieces))),
				Data: slices.Clone(big[0].Data[lo:hi]), Grad: slices.Clone(big[0].Grad[lo:hi])})
		}
		ob, _ := New(kind, big, false)
		op, _ := New(kind, pieces, false)
		for s := 0; s < 3; s++ {
			ob.Step(0.01, 0.05)
			op.Step(0.01, 0.05)
		}
		var joined []float32
		for _, p := range pieces {
			joined = append(joined, p.Data...)
		}
		if !slices.Equal(big[0].Data, joined) {
			t.Errorf("%s: the two-goroutine update differs from the serial one", kind)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	for _, kind := range []string{"Adam", "AdamW", "SGD"} {
		a := randomVars(8, 5, 3)
		oa, _ := New(kind, a, false)
		oa.Step(0.1, 0.01)
		oa.Step(0.05, 0.01)

		b := randomVars(8, 5, 3)
		for i := range b {
			copy(b[i].Data, a[i].Data)
		}
		ob, _ := New(kind, b, false)
		if err := ob.SetState(oa.Steps(), oa.State()); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		// State is a copy: changing it must not reach the optimiser.
		for _, buf := range oa.State() {
			buf[0] = 1e9
		}
		oa.Step(0.02, 0.01)
		ob.Step(0.02, 0.01)
		for i := range a {
			if !slices.Equal(a[i].Data, b[i].Data) {
				t.Errorf("%s: parameter %s differs after a step from restored state", kind, a[i].Name)
			}
		}
		if ob.Steps() != 3 {
			t.Errorf("%s: Steps() = %d after restoring 2 and one step", kind, ob.Steps())
		}
	}
}

func TestSetStateRefuses(t *testing.T) {
	opt, _ := NewAdamW(refVars())
	good := opt.State()
	for _, tc := range []struct {
		name   string
		steps  int
		modify func(map[string][]float32)
		want   string
	}{
		{"negative steps", -1, func(map[string][]float32) {}, "step count -1"},
		{"missing", 1, func(m map[string][]float32) { delete(m, "exp_avg_sq.b") }, "no buffer exp_avg_sq.b"},
		{"short", 1, func(m map[string][]float32) { m["exp_avg.w"] = make([]float32, 2) }, "exp_avg.w has 2 values, parameter has 3"},
		{"extra", 1, func(m map[string][]float32) { m["momentum_buffer.w"] = make([]float32, 3) }, "1 unexpected buffers, first momentum_buffer.w"},
	} {
		m := make(map[string][]float32)
		for k, v := range good {
			m[k] = slices.Clone(v)
		}
		m["exp_avg.w"][0] = 5
		tc.modify(m)
		err := opt.SetState(tc.steps, m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if opt.Steps() != 0 || opt.State()["exp_avg.w"][0] != 0 {
			t.Errorf("%s: a refused state changed the optimiser", tc.name)
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxNorm float64
		scale   float64
	}{
		{"clipped", 6.5, 6.5 / (13 + 1e-6)}, // torch 1.13: norm 13, grads (1.49999988, 1.99999985), (5.99999954)
		{"below", 20, 1},
		{"measure only", 0, 1},
	} {
		vars := []Var{{Name: "w", Data: make([]float32, 2), Grad: []float32{3, 4}}, {Name: "b", Data: make([]float32, 1), Grad: []float32{12}}}
		norm := ClipGradNorm(vars, tc.maxNorm)
		if math.Abs(norm-13) > 1e-12 {
			t.Errorf("%s: norm %g, want 13", tc.name, norm)
		}
		assertClose(t, tc.name+" w grad", 0, vars[0].Grad, []float64{3 * tc.scale, 4 * tc.scale}, 1e-6)
		assertClose(t, tc.name+" b grad", 0, vars[1].Grad, []float64{12 * tc.scale}, 1e-6)
	}
}

func TestFromParams(t *testing.T) {
	p := vit.Preset{Name: "toy", Dim: 4, Depth: 1, Heads: 2, MLPRatio: 2, PatchSize: 4, ImageSize: 8, InChans: 1, QKVBias: true}
	ps, err := vit.New(p, 2, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	vars := FromParams(ps)
	if len(vars) != ps.Len() {
		t.Fatalf("%d vars for %d parameters", len(vars), ps.Len())
	}
	for i, q := range ps.List() {
		v := vars[i]
		if v.Name != q.Name || v.NoDecay != q.NoDecay || &v.Data[0] != &q.Data[0] || len(v.Grad) != len(q.Data) {
			t.Errorf("var %d (%s) does not mirror parameter %s", i, v.Name, q.Name)
		}
	}
}
