package gpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ebitengine/purego"

	"github.com/sslens/sslens/backend/gpu/gputest"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/vit"
)

// TestArgLayout checks that each kernel's Go argument struct has the size
// the C compiler gives the kernel's struct: a field added on one side only
// would shift the others.
func TestArgLayout(t *testing.T) {
	if !hostEmulation(t) {
		t.Skip("the layout is checked where g++ compiles kernels.cu for the host")
	}
	lib, err := gputest.Library(Source)
	if err != nil {
		t.Fatal(err)
	}
	if len(argSizes) != len(KernelNames) {
		t.Fatalf("%d argument sizes for %d kernels", len(argSizes), len(KernelNames))
	}
	for _, name := range KernelNames {
		var size func() uint64
		purego.RegisterLibFunc(&size, lib, name+"_args_size")
		if got, want := uintptr(size()), argSizes[name]; got != want {
			t.Errorf("%s: C struct is %d bytes, Go's %d", name, got, want)
		}
	}
}

// relErr is ‖got − want‖ / ‖want‖ in float64; NaN anywhere gives +Inf.
func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		num += (g - w) * (g - w)
		den += w * w
	}
	return math.Sqrt(num / den)
}

// randomImages draws n images of p's size from N(0, 1), as normalised
// cutouts are.
func randomImages(rng *rand.Rand, p vit.Preset, n int) []float32 {
	x := make([]float32, n*p.InChans*p.ImageSize*p.ImageSize)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// TestViTMatchesCPUEngine runs the executor on the host device and the
// Gorgonia classifier on the same weights and images: features and
// P(lens) must agree to float32 rounding (1e-4 relative). The shapes cover
// 17 tokens (32 px) and 65 (64 px, more keys than a warp has lanes), head
// widths 16 and 64, no qkv bias, and a last chunk smaller than the batch.
func TestViTMatchesCPUEngine(t *testing.T) {
	for name, dev := range testDevices(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name                    string
				dim, depth, heads, size int
				qkvBias                 bool
				batch, images           int
			}{
				{"17 tokens, head width 16", 48, 2, 3, 32, true, 4, 6},
				{"65 tokens, head width 64", 128, 1, 2, 64, false, 3, 3},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ps := trainParams(t, tc.dim, tc.depth, tc.heads, tc.size, false, func(p *vit.Preset) { p.QKVBias = tc.qkvBias })
					p, rng := ps.Preset, rand.New(rand.NewPCG(1, uint64(tc.dim)))
					images := randomImages(rng, p, tc.images)

					cpu, err := nn.NewClassifier(ps, nn.Options{Batch: tc.batch})
					if err != nil {
						t.Fatal(err)
					}
					defer cpu.Close()
					wantF, err := cpu.Features(images)
					if err != nil {
						t.Fatal(err)
					}
					wantP, err := cpu.Predict(images)
					if err != nil {
						t.Fatal(err)
					}

					m, err := NewViT(dev, ps, tc.batch)
					if err != nil {
						t.Fatal(err)
					}
					defer m.Close()
					gotF, err := m.Features(images)
					if err != nil {
						t.Fatal(err)
					}
					gotP, err := m.Predict(images)
					if err != nil {
						t.Fatal(err)
					}
					if len(gotF) != tc.images || len(gotP) != tc.images {
						t.Fatalf("%d features and %d probabilities for %d images", len(gotF), len(gotP), tc.images)
					}
					for i := range wantF {
						if e := relErr(gotF[i], wantF[i]); e > 1e-4 {
							t.Errorf("image %d: features differ by %.2g relative", i, e)
						}
						if d := math.Abs(gotP[i] - wantP[i]); !(d < 1e-5) {
							t.Errorf("image %d: P(lens) %.7f, CPU engine %.7f", i, gotP[i], wantP[i])
						}
					}
					t.Logf("image 0: P(lens) %.6f (CPU %.6f), features rel. error %.2g", gotP[0], wantP[0], relErr(gotF[0], wantF[0]))
				})
			}
		})
	}
}
