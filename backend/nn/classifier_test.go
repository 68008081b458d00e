package nn

import (
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/sim"
)

func newClassifier(t *testing.T, ps *vit.Params, opt Options) *Classifier {
	t.Helper()
	c, err := NewClassifier(ps, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestClassifierGradients compares a float32 training step, split into
// chunks (batch 3 over 5 images), with the float64 graph on all 5 at once:
// loss, P(lens) and every Var's gradient.
func TestClassifierGradients(t *testing.T) {
	ps := tinyParams(t, tinyPreset(0, 0), 5)
	images, labels := randomImages(6, 5, 32), []int{1, 0, 0, 1, 1}
	c := newClassifier(t, ps, Options{Batch: 3, Seed: 1})
	loss, probs, err := c.TrainStep(images, labels)
	if err != nil {
		t.Fatal(err)
	}
	lg := newLossGraph(t, ps, tensor.Float64, []crop{{5, 32}}, [][]float32{images}, labels)
	wantLoss := lg.run(t)
	if math.Abs(loss-wantLoss) > 1e-5*math.Abs(wantLoss) {
		t.Errorf("loss %.8g, want %.8g", loss, wantLoss)
	}
	logits := valueFloats(lg.cls[0].Value())
	for i, p := range probs {
		want := 1 / (1 + math.Exp(logits[2*i]-logits[2*i+1]))
		if math.Abs(p-want) > 1e-5 {
			t.Errorf("image %d: P(lens) %.6g, want %.6g", i, p, want)
		}
	}
	vars := c.Vars()
	if len(vars) != ps.Len() {
		t.Fatalf("%d vars, want all %d parameters", len(vars), ps.Len())
	}
	for i, v := range vars {
		if v.Name != ps.List()[i].Name || &v.Data[0] != &ps.List()[i].Data[0] {
			t.Fatalf("var %d is %s and does not share %s's storage", i, v.Name, ps.List()[i].Name)
		}
		got := make([]float64, len(v.Grad))
		for j, g := range v.Grad {
			got[j] = float64(g)
		}
		if e := relDiff(got, valueFloats(lg.grads[i].Value()), 1e-3); e > 1e-4 {
			t.Errorf("%s: gradient differs from float64 by %.3g", v.Name, e)
		}
	}
	if len(c.train) != 2 || c.train[3] == nil || c.train[2] == nil {
		t.Errorf("training machines for sizes %v, want 3 and 2", slices.Sorted(maps.Keys(c.train)))
	}
	first := c.train[3]
	if _, _, err := c.TrainStep(images[:3*3*32*32], labels[:3]); err != nil {
		t.Fatal(err)
	}
	if c.train[3] != first || len(c.train) != 2 {
		t.Error("a second step of a known size compiled a new machine")
	}
}

// TestReproducible trains three classifiers for three AdamW steps with
// dropout and drop path on, over a full and a partial batch: the two with
// the same seed must agree bitwise, the third, seeded differently, must not.
func TestReproducible(t *testing.T) {
	p := tinyPreset(0.3, 0.2)
	images, labels := randomImages(8, 6, 32), []int{1, 0, 1, 0, 0, 1}
	train := func(seed uint64) (losses []float64, ps *vit.Params) {
		ps = tinyParams(t, p, 7)
		c := newClassifier(t, ps, Options{Batch: 4, Seed: seed})
		opt, err := optim.NewAdamW(c.Vars())
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			loss, _, err := c.TrainStep(images, labels)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, loss)
			opt.Step(1e-3, 0.05)
		}
		return losses, ps
	}
	a, pa := train(11)
	b, pb := train(11)
	other, _ := train(12)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, losses %v and %v", a, b)
	}
	for i, q := range pa.List() {
		if !slices.Equal(q.Data, pb.List()[i].Data) {
			t.Errorf("same seed, %s differs after training", q.Name)
		}
	}
	if slices.Equal(a, other) {
		t.Errorf("seeds 11 and 12 gave the same losses %v: dropout is not drawing", a)
	}
}

// TestFreezeBackbone: only the head is trainable, the backbone keeps its
// values bitwise through AdamW steps, and runs in evaluation mode (the
// training step's P(lens) equals Predict's despite dropout in the preset).
func TestFreezeBackbone(t *testing.T) {
	ps := tinyParams(t, tinyPreset(0.3, 0.3), 9)
	before := ps.Clone()
	c := newClassifier(t, ps, Options{Batch: 4, Seed: 1, FreezeBackbone: true})
	var names []string
	for _, v := range c.Vars() {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, []string{"head.weight", "head.bias"}) {
		t.Fatalf("vars %v, want the head's", names)
	}
	opt, err := optim.NewAdamW(c.Vars())
	if err != nil {
		t.Fatal(err)
	}
	images, labels := randomImages(10, 4, 32), []int{0, 1, 1, 0}
	for range 3 {
		if _, _, err := c.TrainStep(images, labels); err != nil {
			t.Fatal(err)
		}
		opt.Step(1e-2, 0.05)
	}
	_, trainProbs, err := c.TrainStep(images, labels)
	if err != nil {
		t.Fatal(err)
	}
	evalProbs, err := c.Predict(images)
	if err != nil {
		t.Fatal(err)
	}
	if e := relDiff(trainProbs, evalProbs, 1); e > 1e-6 {
		t.Errorf("frozen backbone: training P(lens) %v, evaluation %v", trainProbs, evalProbs)
	}
	for i, p := range ps.List() {
		same := slices.Equal(p.Data, before.List()[i].Data)
		if head := strings.HasPrefix(p.Name, "head."); head == same {
			t.Errorf("%s: changed = %v after training the head alone", p.Name, !same)
		}
	}
}

// TestPredictFeatures runs 10 images through batches of 4 (the last padded)
// and compares with the reference forward.
func TestPredictFeatures(t *testing.T) {
	ps := tinyParams(t, tinyPreset(0.3, 0.3), 12)
	c := newClassifier(t, ps, Options{Batch: 4, Seed: 1})
	const n = 10
	images := randomImages(13, n, 32)
	probs, err := c.Predict(images)
	if err != nil {
		t.Fatal(err)
	}
	feats, err := c.Features(images)
	if err != nil {
		t.Fatal(err)
	}
	wantCLS, wantLogits := refForward(t, ps, images, n, 32)
	if len(probs) != n || len(feats) != n {
		t.Fatalf("%d probabilities and %d features for %d images", len(probs), len(feats), n)
	}
	for i := range n {
		want := 1 / (1 + math.Exp(wantLogits[i][0]-wantLogits[i][1]))
		if math.Abs(probs[i]-want) > 1e-5 {
			t.Errorf("image %d: P(lens) %.6g, want %.6g", i, probs[i], want)
		}
		got := make([]float64, len(feats[i]))
		for j, v := range feats[i] {
			got[j] = float64(v)
		}
		if e := relDiff(got, wantCLS[i], 1); e > 1e-5 {
			t.Errorf("image %d: features differ from the reference by %.3g", i, e)
		}
	}
	if p, err := c.Predict(nil); err != nil || len(p) != 0 {
		t.Errorf("Predict(nil) = %v, %v; want no values", p, err)
	}
}

// TestClassifierErrors checks the refusals and their messages.
func TestClassifierErrors(t *testing.T) {
	ps := tinyParams(t, tinyPreset(0, 0), 14)
	noHead, err := vit.New(tinyPreset(0, 0), 0, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	img := randomImages(1, 2, 32)
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"no head", func() error { _, err := NewClassifier(noHead, Options{Batch: 2}); return err }, "0 classes, want 2"},
		{"batch", func() error { _, err := NewClassifier(ps, Options{}); return err }, "batch size 0"},
		{"image length", func() error {
			_, _, err := newClassifier(t, ps, Options{Batch: 2}).TrainStep(img[:100], []int{0, 1})
			return err
		}, "100 image values for 2 labels, want 3072 per image"},
		{"label", func() error {
			_, _, err := newClassifier(t, ps, Options{Batch: 2}).TrainStep(img, []int{0, 2})
			return err
		}, "label 2 of row 1 outside [0, 2)"},
		{"partial image", func() error { _, err := newClassifier(t, ps, Options{Batch: 2}).Predict(img[:5000]); return err }, "5000 image values are not whole images of 3072"},
		{"closed", func() error {
			c := newClassifier(t, ps, Options{Batch: 2})
			c.Close()
			_, err := c.Features(img)
			return err
		}, "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestOverfit trains a small ViT (D 64, depth 2, no dropout) with AdamW on
// 64 simulated HSC cutouts, 32 lenses and 32 non-lenses, until it classifies
// every one of them correctly in evaluation mode.
func TestOverfit(t *testing.T) {
	cfg, err := sim.DefaultConfig("hsc", "small")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Size = 32
	const n, per = 64, 3 * 32 * 32
	images, labels := make([]float32, 0, n*per), make([]int, 0, n)
	// The small set's train split holds its lenses first, from index 0,
	// then its non-lenses, from index Train.Lenses.
	for _, first := range []int{0, cfg.Counts.Train.Lenses} {
		for i := first; i < first+n/2; i++ {
			im, p, err := sim.Render(cfg, i)
			if err != nil {
				t.Fatal(err)
			}
			images, labels = append(images, im.Pix...), append(labels, int(p.Label))
		}
	}
	if got := slices.Index(labels, 0); got != n/2 {
		t.Fatalf("first non-lens at %d, want %d: labels %v", got, n/2, labels)
	}
	standardise(images, 3, 32*32)

	p := vit.Preset{Name: "vit_overfit", Dim: 64, Depth: 2, Heads: 4, MLPRatio: 4, PatchSize: 8, ImageSize: 32, InChans: 3, QKVBias: true}
	ps, err := vit.New(p, 2, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	c := newClassifier(t, ps, Options{Batch: n, Seed: 1})
	opt, err := optim.NewAdamW(c.Vars())
	if err != nil {
		t.Fatal(err)
	}
	// Full-batch AdamW at 2e-3 after a 10-step linear warm-up, gradients
	// clipped to norm 1: all right after 60-90 steps on 1-4 cores with
	// either BLAS.
	const maxSteps, warmup = 200, 10
	var losses []float64
	for step := 1; step <= maxSteps; step++ {
		loss, _, err := c.TrainStep(images, labels)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
		optim.ClipGradNorm(c.Vars(), 1)
		opt.Step(2e-3*min(1, float64(step)/warmup), 0)
		if step%10 != 0 {
			continue
		}
		probs, err := c.Predict(images)
		if err != nil {
			t.Fatal(err)
		}
		correct := 0
		for i, pr := range probs {
			if (pr > 0.5) == (labels[i] == 1) {
				correct++
			}
		}
		if correct == n {
			t.Logf("all %d images right after %d steps, loss %.3g -> %.3g", n, step, losses[0], loss)
			return
		}
	}
	t.Errorf("after %d steps not every training image is right; losses %.3g ... %.3g", maxSteps, losses[:5], losses[len(losses)-5:])
}

// standardise scales each of the bands (planes of size values per image)
// to zero mean and unit variance over all images.
func standardise(images []float32, bands, size int) {
	for b := range bands {
		var sum, sq float64
		count := 0
		for off := b * size; off < len(images); off += bands * size {
			for _, v := range images[off : off+size] {
				sum += float64(v)
				sq += float64(v) * float64(v)
				count++
			}
		}
		mean := sum / float64(count)
		std := math.Sqrt(sq/float64(count) - mean*mean)
		for off := b * size; off < len(images); off += bands * size {
			for i, v := range images[off : off+size] {
				images[off+i] = float32((float64(v) - mean) / std)
			}
		}
	}
}

// TestStepReusesMemory: after the first step, which compiles the machine
// and allocates its buffers, a step allocates a small fraction of that.
func TestStepReusesMemory(t *testing.T) {
	p := tinyPreset(0.1, 0.1)
	p.Dim, p.Heads = 64, 4
	ps, err := vit.New(p, 2, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	c := newClassifier(t, ps, Options{Batch: 16, Seed: 1})
	images, labels := randomImages(2, 16, 32), make([]int, 16)
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	step := func() {
		if _, _, err := c.TrainStep(images, labels); err != nil {
			t.Fatal(err)
		}
	}
	first := allocated(step)
	const steps = 5
	later := allocated(func() {
		for range steps {
			step()
		}
	}) / steps
	t.Logf("first step %d bytes, later steps %d", first, later)
	if later*20 > first {
		t.Errorf("a step allocates %d bytes, the first %d: buffers are not reused", later, first)
	}
}

// Reseed makes a step's dropout masks depend on the step number alone: a
// classifier told it is at step 7 draws what another draws at step 7,
// whatever it ran before, and other steps draw other masks.
func TestReseedRepeatsAStepsMasks(t *testing.T) {
	ps := tinyParams(t, tinyPreset(0.3, 0.3), 1)
	images, labels := randomImages(3, 4, 32), []int{0, 1, 1, 0}
	run := func(warmup int) (float64, float64) {
		c, err := NewClassifier(ps, Options{Batch: 4, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var first float64
		for i := range warmup {
			l, _, err := c.TrainStep(images, labels)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = l
			}
		}
		c.Reseed(7)
		l, _, err := c.TrainStep(images, labels)
		if err != nil {
			t.Fatal(err)
		}
		return l, first
	}
	a, _ := run(0)
	b, other := run(3)
	if a != b {
		t.Errorf("step 7 after no steps: loss %v; after 3 steps: %v", a, b)
	}
	if other == a {
		t.Errorf("step 0 and step 7 drew the same masks (loss %v)", a)
	}
}
