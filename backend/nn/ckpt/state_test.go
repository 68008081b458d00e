package ckpt

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := State{Step: 50, Epoch: 2, RNG: []byte{1, 2, 3, 250}, OptimStep: 48,
		Optim: map[string][]float32{"exp_avg.w": {1, 2, 3}, "exp_avg_sq.w": {0.5, 0.25, 0}},
		Extra: map[string][]float32{"center": {0.1, -0.1}, "teacher.norm.weight": {1, 1}}}
	if err := SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != 50 || got.Epoch != 2 || got.OptimStep != 48 || !slices.Equal(got.RNG, st.RNG) ||
		len(got.Optim) != 2 || len(got.Extra) != 2 {
		t.Fatalf("LoadState = %+v, want %+v", got, st)
	}
	for _, m := range []struct{ got, want map[string][]float32 }{{got.Optim, st.Optim}, {got.Extra, st.Extra}} {
		for k, v := range m.want {
			if !slices.Equal(m.got[k], v) {
				t.Errorf("buffer %s = %v, want %v", k, m.got[k], v)
			}
		}
	}
	assertOnlyFiles(t, dir, "state.json", "state.safetensors")
}

func TestLoadStateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(dir string) error
		want  string
	}{
		{"weights from another save", func(dir string) error {
			_, err := writeTensors(filepath.Join(dir, "state.safetensors"), []Tensor{{Name: "optim/x", Shape: []int{1}, Data: []float32{9}}}, nil)
			return err
		}, "does not match its sidecar"},
		{"missing json", func(dir string) error { return os.Remove(filepath.Join(dir, "state.json")) }, "no such file"},
		{"truncated weights", func(dir string) error {
			return os.Truncate(filepath.Join(dir, "state.safetensors"), 20)
		}, "state.safetensors"},
	} {
		dir := t.TempDir()
		if err := SaveState(dir, State{Step: 1, Optim: map[string][]float32{"momentum_buffer.w": {1, 2}}}); err != nil {
			t.Fatal(err)
		}
		if err := tc.spoil(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// toyRun is a training loop in miniature: a ViT's parameters, AdamW with
// clipping and cosine schedules, and a random source that draws each step's
// gradient (a stand-in for data order, augmentations and dropout).
type toyRun struct {
	ps     *vit.Params
	vars   []optim.Var
	opt    optim.Optimizer
	pcg    *rand.PCG
	rng    *rand.Rand
	step   int
	lr, wd []float64
}

func newToyRun(t *testing.T, initSeed, dataSeed uint64) *toyRun {
	ps := toyParams(t, "toy", 8, 2, initSeed)
	vars := optim.FromParams(ps)
	opt, err := optim.New("AdamW", vars, false)
	if err != nil {
		t.Fatal(err)
	}
	pcg := rand.NewPCG(dataSeed, 1)
	return &toyRun{ps: ps, vars: vars, opt: opt, pcg: pcg, rng: rand.New(pcg),
		lr: optim.Cosine(1e-2, 1e-4, 2, 5, 1, 0), wd: optim.Cosine(0.04, 0.4, 2, 5, 0, 0)}
}

// train runs n steps; the gradient is that of 0.5*|p - target|^2 for a
// random target.
func (r *toyRun) train(n int) {
	for ; n > 0; n-- {
		for _, v := range r.vars {
			for i := range v.Grad {
				v.Grad[i] = v.Data[i] - float32(r.rng.NormFloat64())
			}
		}
		optim.ClipGradNorm(r.vars, 5)
		r.opt.Step(r.lr[r.step], r.wd[r.step])
		r.step++
	}
}

func (r *toyRun) save(t *testing.T, dir string) {
	rngState, err := r.pcg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(filepath.Join(dir, "model.safetensors"), ParamTensors(r.ps), Sidecar{Preset: "toy", Step: r.step}); err != nil {
		t.Fatal(err)
	}
	st := State{Step: r.step, Epoch: r.step / 5, RNG: rngState, OptimStep: r.opt.Steps(), Optim: r.opt.State()}
	if err := SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
}

// resume loads weights, and the optimiser state and RNG state when asked.
func (r *toyRun) resume(t *testing.T, dir string, optimState, rngState bool) {
	if _, err := LoadInto(filepath.Join(dir, "model.safetensors"), r.ps); err != nil {
		t.Fatal(err)
	}
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.step = st.Step
	if optimState {
		if err := r.opt.SetState(st.OptimStep, st.Optim); err != nil {
			t.Fatal(err)
		}
	}
	if rngState {
		if err := r.pcg.UnmarshalBinary(st.RNG); err != nil {
			t.Fatal(err)
		}
	}
}

func sameParams(a, b *vit.Params) bool {
	for _, p := range a.List() {
		if !slices.Equal(p.Data, b.Get(p.Name).Data) {
			return false
		}
	}
	return true
}

// TestResumeIsExact trains 10 steps straight, and 5 steps, a save, a load
// into fresh objects (other init and data seeds) and 5 more: the weights and
// the optimiser's moments must be bitwise identical. Leaving out the
// optimiser state or the RNG state must break that, or the test could not
// tell.
func TestResumeIsExact(t *testing.T) {
	straight := newToyRun(t, 1, 42)
	straight.train(10)

	dir := t.TempDir()
	first := newToyRun(t, 1, 42)
	first.train(5)
	first.save(t, dir)

	for _, tc := range []struct {
		name                 string
		optimState, rngState bool
		same                 bool
	}{
		{"full state", true, true, true},
		{"no optimiser state", false, true, false},
		{"no RNG state", true, false, false},
	} {
		resumed := newToyRun(t, 2, 7)
		resumed.resume(t, dir, tc.optimState, tc.rngState)
		resumed.train(5)
		if got := sameParams(straight.ps, resumed.ps); got != tc.same {
			t.Errorf("%s: weights identical to the straight run: %v, want %v", tc.name, got, tc.same)
		}
		if !tc.same {
			continue
		}
		want, got := straight.opt.State(), resumed.opt.State()
		for k, v := range want {
			if !slices.Equal(got[k], v) {
				t.Errorf("%s: optimiser buffer %s differs", tc.name, k)
			}
		}
		if resumed.opt.Steps() != 10 {
			t.Errorf("%s: optimiser at step %d, want 10", tc.name, resumed.opt.Steps())
		}
	}
}
