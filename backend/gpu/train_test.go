package gpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// trainParams builds a small classifier's parameters with non-trivial
// norms and biases; dropout and drop path off unless drop; edits change
// the preset further.
func trainParams(t *testing.T, dim, depth, heads, size int, drop bool, edits ...func(*vit.Preset)) *vit.Params {
	t.Helper()
	p := vit.CustomPreset(dim, depth, heads)
	p.ImageSize = size
	if !drop {
		p.DropPath, p.AttnDrop = 0, 0
	} else {
		p.DropPath, p.AttnDrop = 0.3, 0.3
	}
	for _, edit := range edits {
		edit(&p)
	}
	rng := rand.New(rand.NewPCG(7, uint64(dim)))
	ps, err := vit.New(p, 2, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range ps.List() {
		if q.Name != "cls_token" && q.Name != "pos_embed" {
			for i := range q.Data {
				q.Data[i] += float32(0.05 * rng.NormFloat64())
			}
		}
	}
	return ps
}

func randomLabels(rng *rand.Rand, n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = rng.IntN(2)
	}
	return l
}

// sgd applies a plain gradient step to vars, as an optimiser would between
// training steps.
func sgd(vars []optim.Var, lr float32) {
	for _, v := range vars {
		for i, g := range v.Grad {
			v.Data[i] -= lr * g
		}
	}
}

// TestTrainStepMatchesCPUEngine takes two training steps with an SGD
// update between them on each test device and with the Gorgonia
// classifier from the same weights, dropout and drop path off: losses,
// P(lens) (absolute) and every parameter's gradient agree to 1e-4 relative. Six
// images in batches of four exercise the gradient sum over chunks; the
// linear probe (frozen backbone) gets the head's gradients alone; ViT-S/8
// (384 wide, 12 blocks of 8 heads) is the reference project's model.
func TestTrainStepMatchesCPUEngine(t *testing.T) {
	for name, dev := range testDevices(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name                    string
				dim, depth, heads, size int
				freeze                  bool
			}{
				{"full", 48, 2, 3, 32, false},
				{"frozen backbone", 48, 2, 3, 32, true},
				{"ViT-S/8", 384, 12, 8, 32, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					psCPU := trainParams(t, tc.dim, tc.depth, tc.heads, tc.size, false)
					psGPU := psCPU.Clone()
					rng := rand.New(rand.NewPCG(3, 4))
					images := randomImages(rng, psCPU.Preset, 6)
					labels := randomLabels(rng, 6)
					cpu, err := nn.NewClassifier(psCPU, nn.Options{Batch: 4, FreezeBackbone: tc.freeze})
					if err != nil {
						t.Fatal(err)
					}
					defer cpu.Close()
					gpu, err := NewClassifier(dev, psGPU, Options{Batch: 4, FreezeBackbone: tc.freeze})
					if err != nil {
						t.Fatal(err)
					}
					defer gpu.Close()
					cv, gv := cpu.Vars(), gpu.Vars()
					if len(cv) != len(gv) {
						t.Fatalf("%d vars on the CPU, %d here", len(cv), len(gv))
					}
					for step := range 2 {
						wantLoss, wantP, err := cpu.TrainStep(images, labels)
						if err != nil {
							t.Fatal(err)
						}
						gotLoss, gotP, err := gpu.TrainStep(images, labels)
						if err != nil {
							t.Fatal(err)
						}
						if math.Abs(gotLoss-wantLoss) > 1e-4*math.Abs(wantLoss) {
							t.Errorf("step %d: loss %.7f, CPU engine %.7f", step, gotLoss, wantLoss)
						}
						for i := range wantP {
							if math.Abs(gotP[i]-wantP[i]) > 1e-4 {
								t.Errorf("step %d image %d: P(lens) %.7f, CPU engine %.7f", step, i, gotP[i], wantP[i])
							}
						}
						worst, at := 0.0, ""
						for i := range cv {
							if cv[i].Name != gv[i].Name {
								t.Fatalf("var %d: %s on the CPU, %s here", i, cv[i].Name, gv[i].Name)
							}
							if e := relErr(gv[i].Grad, cv[i].Grad); e > worst {
								worst, at = e, cv[i].Name
							}
						}
						if worst > 1e-4 {
							t.Errorf("step %d: gradient of %s differs by %.2g relative", step, at, worst)
						}
						t.Logf("step %d: loss %.6f, largest gradient difference %.2g (%s)", step, gotLoss, worst, at)
						sgd(cv, 0.5)
						sgd(gv, 0.5)
					}
				})
			}
		})
	}
}

// TestTrainStepDropoutGradient checks the backward with attention dropout
// and drop path on (rates 0.3): the masks of a step are fixed by its
// number, so the loss is a function of the parameters whose directional
// derivative, by central differences in float64 arithmetic over float32
// losses, must match the gradient's to 2e-3 (a step of 3e-4: the
// difference's own error, which shrinks as the step squared, was 2e-2 at
// 3e-3, 2e-3 at 1e-3 and 1.5e-4 at 3e-4). It also checks that a step
// repeats exactly and that another step number draws other masks.
func TestTrainStepDropoutGradient(t *testing.T) {
	for name, dev := range testDevices(t) {
		t.Run(name, func(t *testing.T) {
			ps := trainParams(t, 32, 2, 2, 32, true)
			rng := rand.New(rand.NewPCG(5, 6))
			images := randomImages(rng, ps.Preset, 4)
			labels := randomLabels(rng, 4)
			c, err := NewClassifier(dev, ps, Options{Batch: 3, Seed: 11})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			lossAt := func(step uint64) float64 {
				c.Reseed(step)
				l, _, err := c.TrainStep(images, labels)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			l0 := lossAt(0)
			vars := c.Vars()
			grads := make([][]float32, len(vars))
			for i, v := range vars {
				grads[i] = append([]float32(nil), v.Grad...)
			}
			if again := lossAt(0); again != l0 {
				t.Errorf("step 0 twice: loss %v then %v", l0, again)
			}
			if other := lossAt(1); other == l0 {
				t.Errorf("steps 0 and 1 drew the same masks (loss %v)", l0)
			}
			// A random direction over every parameter, scaled per tensor.
			dir := make([][]float32, len(vars))
			var slope float64
			for i, v := range vars {
				dir[i] = make([]float32, len(v.Data))
				for j := range dir[i] {
					dir[i][j] = float32(rng.NormFloat64())
					slope += float64(dir[i][j]) * float64(grads[i][j])
				}
			}
			const eps = 3e-4
			shift := func(by float32) {
				for i, v := range vars {
					for j := range v.Data {
						v.Data[j] += by * dir[i][j]
					}
				}
			}
			shift(eps)
			plus := lossAt(0)
			shift(-2 * eps)
			minus := lossAt(0)
			shift(eps)
			fd := (plus - minus) / (2 * eps)
			if math.Abs(fd-slope) > 2e-3*math.Abs(slope) {
				t.Errorf("directional derivative: central difference %.6g, gradient %.6g", fd, slope)
			}
			t.Logf("loss %.6f; directional derivative %.6g by differences, %.6g by the gradient", l0, fd, slope)
		})
	}
}
