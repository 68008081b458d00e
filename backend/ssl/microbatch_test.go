package ssl

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/ssl/ssltest"
)

// TestMicroBatchedPretrainingMatchesOnePass trains each method for 5
// steps with the whole batch of 8 per backbone pass and with micro-batches
// of 3 (3, 3 and a remainder of 2): the teacher (or encoder), the student,
// the optimiser's momentum, the centres and the BatchNorms' running
// statistics agree to float32 rounding, dropout and drop path on. The
// optimiser is SGD: AdamW divides a gradient by its own magnitude, so a
// parameter whose gradient is 0 but for rounding (a bias before a
// BatchNorm, attention's key bias) takes steps of the learning rate's size
// in a direction rounding decides, in one pass and chunked alike; the
// gradients themselves are compared in float64, to 1e-10, in backend/nn's
// chunk tests.
func TestMicroBatchedPretrainingMatchesOnePass(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, pretrainSpec)
	for _, method := range []config.Method{config.DINO, config.IBOT, config.SimSiam} {
		t.Run(string(method), func(t *testing.T) {
			run := func(micro int) (map[string][]float32, ckpt.State) {
				out := filepath.Join(t.TempDir(), fmt.Sprint(micro))
				cfg := pretrainConfig(t, method, dataDir, out, func(c *config.Config) {
					c.Train.MicroBatch = micro
					c.Network.MaskConfig.StartEpoch = 0
					c.Optimizer.Name = "SGD"
				})
				if _, _, err := pretrain(t, cfg, testPreset(), Options{MaxSteps: 5}, nil); !errors.Is(err, ErrStepLimit) {
					t.Fatalf("micro-batch %d: %v", micro, err)
				}
				dir := filepath.Join(out, layout.LastDir)
				tensors := readTensors(t, filepath.Join(dir, layout.ModelFile))
				st, err := ckpt.LoadState(dir)
				if err != nil {
					t.Fatal(err)
				}
				return tensors, st
			}
			wantModel, want := run(0)
			gotModel, got := run(3)
			// compare allows each tensor floor·(the largest value of the set)
			// besides 1e-4 of its own scale.
			compare := func(what string, a, b map[string][]float32, floor float64) {
				t.Helper()
				if len(a) != len(b) {
					t.Fatalf("%s: %d tensors, one pass %d", what, len(a), len(b))
				}
				var largest float64
				for _, w := range b {
					for _, v := range w {
						largest = max(largest, math.Abs(float64(v)))
					}
				}
				for name, w := range b {
					g, ok := a[name]
					if !ok || len(g) != len(w) {
						t.Fatalf("%s: no %s of %d values", what, name, len(w))
					}
					var worst, scale float64
					for i := range w {
						worst = max(worst, math.Abs(float64(g[i]-w[i])))
						scale = max(scale, math.Abs(float64(w[i])))
					}
					if worst > 1e-4*scale+floor*largest {
						t.Errorf("%s: %s differs from one pass by %.3g (scale %.3g)", what, name, worst, scale)
					}
				}
			}
			// The floor is a few float32 ulps of the largest value: a
			// parameter whose gradient is 0 but for rounding (a bias before
			// a BatchNorm) holds only rounding, which the order of the
			// chunks' sums changes.
			compare("model", gotModel, wantModel, 1e-6)
			compare("state", got.Extra, want.Extra, 1e-6)
			// The momentum of a gradient that is 0 but for rounding is
			// rounding; the others agree to 1e-4.
			compare("optimiser", got.Optim, want.Optim, 1e-3)
			if got.Step != want.Step || got.OptimStep != want.OptimStep || !slices.Equal(got.RNG, want.RNG) {
				t.Errorf("steps %d/%d and generator differ from one pass's %d/%d", got.Step, got.OptimStep, want.Step, want.OptimStep)
			}
		})
	}
}
