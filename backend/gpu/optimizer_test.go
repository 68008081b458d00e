package gpu

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// TestOptimizerMatchesHost takes three steps with the device optimiser and
// with the host one on the same gradients (dropout on, the same masks):
// parameters and state agree to 1e-5 relative for Adam, AdamW and SGD, with
// and without decay for NoDecay parameters, with clipping (to a norm below
// the gradient's) and with a frozen backbone. The state then restores into
// a fresh device optimiser, and a malformed one is refused unchanged. No
// qkv bias: the key bias's gradient is zero but for rounding (softmax does
// not see a shift of every score of a row), which Adam magnifies into
// whole steps of either sign.
func TestOptimizerMatchesHost(t *testing.T) {
	for name, dev := range testDevices(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name, opt        string
				decayAll, freeze bool
				clip             float64
			}{
				{"adamw", "AdamW", false, false, 0},
				{"adam decay all", "adam", true, false, 0},
				{"sgd clipped", "SGD", false, false, 0.05},
				{"adamw clipped frozen", "AdamW", false, true, 0.01},
			} {
				t.Run(tc.name, func(t *testing.T) {
					psHost := trainParams(t, 32, 2, 2, 32, true, func(p *vit.Preset) { p.QKVBias = false })
					psDev := psHost.Clone()
					rng := rand.New(rand.NewPCG(8, 9))
					images, labels := randomImages(rng, psHost.Preset, 5), randomLabels(rng, 5)
					opts := Options{Batch: 3, Seed: 4, FreezeBackbone: tc.freeze}
					host, err := NewClassifier(dev, psHost, opts)
					if err != nil {
						t.Fatal(err)
					}
					defer host.Close()
					onDev, err := NewClassifier(dev, psDev, opts)
					if err != nil {
						t.Fatal(err)
					}
					defer onDev.Close()
					hostOpt, err := optim.New(tc.opt, host.Vars(), tc.decayAll)
					if err != nil {
						t.Fatal(err)
					}
					devOpt, err := onDev.NewOptimizer(tc.opt, tc.decayAll, tc.clip)
					if err != nil {
						t.Fatal(err)
					}
					for step := range 3 {
						if _, _, err := host.TrainStep(images, labels); err != nil {
							t.Fatal(err)
						}
						if tc.clip > 0 {
							if norm := optim.ClipGradNorm(host.Vars(), tc.clip); norm <= tc.clip {
								t.Fatalf("step %d: gradient norm %v does not exceed the clip %v", step, norm, tc.clip)
							}
						}
						hostOpt.Step(1e-3*float64(step+1), 0.05)
						if _, _, err := onDev.TrainStep(images, labels); err != nil {
							t.Fatal(err)
						}
						devOpt.Step(1e-3*float64(step+1), 0.05)
					}
					if err := onDev.PullParams(); err != nil {
						t.Fatal(err)
					}
					for i, p := range psHost.List() {
						if e := relErr(psDev.List()[i].Data, p.Data); e > 1e-5 {
							t.Errorf("%s differs by %.2g relative after three steps", p.Name, e)
						}
					}
					want, got := hostOpt.State(), devOpt.State()
					if len(got) != len(want) || devOpt.Steps() != 3 {
						t.Fatalf("%d state buffers after %d steps, want %d after 3", len(got), devOpt.Steps(), len(want))
					}
					for key, w := range want {
						if e := relErr(got[key], w); e > 1e-5 {
							t.Errorf("state %s differs by %.2g relative", key, e)
						}
					}
					// A fresh device optimiser restores the state; a malformed
					// one is refused and leaves it as it was.
					fresh, err := onDev.NewOptimizer(tc.opt, tc.decayAll, tc.clip)
					if err != nil {
						t.Fatal(err)
					}
					if err := fresh.SetState(3, got); err != nil {
						t.Fatal(err)
					}
					bad := map[string][]float32{"exp_avg.head.weight": {1}}
					if err := fresh.SetState(3, bad); err == nil || !strings.Contains(err.Error(), "optim: state:") {
						t.Errorf("SetState of a malformed state: %v", err)
					}
					for key, w := range got {
						if e := relErr(fresh.State()[key], w); e != 0 {
							t.Errorf("restored state %s differs by %.2g", key, e)
						}
					}
				})
			}
		})
	}
}
