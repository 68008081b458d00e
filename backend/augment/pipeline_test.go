package augment

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

// loadSeed returns the augmentation and masking settings of one of the
// reference configs (configs/reference/*.yaml; backend/config checks that
// loading them yields exactly these).
func loadSeed(t testing.TB, name string) (Config, MaskConfig) {
	t.Helper()
	switch name {
	case "dino-vit-small.yaml", "dino-vit-base.yaml", "ibot-vit-small.yaml":
		m, locals, size := MethodDINO, 16, 20
		switch name {
		case "dino-vit-base.yaml":
			size = 28
		case "ibot-vit-small.yaml":
			m, locals = MethodIBOT, 12
		}
		cfg := DefaultConfig(m)
		cfg.NumLocalCrops, cfg.LocalCropSize = locals, size
		mc := DefaultMaskConfig(m)
		mc.Aspect = [2]float64{0.3, 3.33}
		return cfg, mc
	case "simsiam-vit-small.yaml":
		return DefaultConfig(MethodSimSiam), DefaultMaskConfig(MethodSimSiam)
	}
	t.Fatalf("no settings for %s", name)
	return Config{}, MaskConfig{}
}

func TestPipelineShapes(t *testing.T) {
	tests := []struct {
		name           string
		file           string // seed config, or "" for the method's defaults
		method         Method
		global, gsize  int
		local, lsize   int
		masks, maskLen int
	}{
		{"dino small", "dino-vit-small.yaml", "", 2, 32, 16, 20, 0, 0},
		{"dino base", "dino-vit-base.yaml", "", 2, 32, 16, 28, 0, 0},
		{"ibot small", "ibot-vit-small.yaml", "", 2, 32, 12, 20, 2, 16},
		{"simsiam", "simsiam-vit-small.yaml", "", 2, 32, 0, 0, 0, 0},
		{"none", "", MethodNone, 1, 32, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, mc := DefaultConfig(tt.method), DefaultMaskConfig(tt.method)
			if tt.file != "" {
				cfg, mc = loadSeed(t, tt.file)
			}
			p, err := NewPipeline(cfg, mc, SeedNormalization())
			if err != nil {
				t.Fatal(err)
			}
			// A 48 px cutout: the pipeline centre-crops it to 32 first.
			v, err := p.Apply(context.Background(), randomImage(3, 48, 48, newRNG(10)), SampleRNG(1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			check := func(kind string, ims []data.Image, n, size int) {
				if len(ims) != n {
					t.Fatalf("%d %s views, want %d", len(ims), kind, n)
				}
				for i, im := range ims {
					if im.C != 3 || im.H != size || im.W != size || len(im.Pix) != 3*size*size {
						t.Errorf("%s view %d is (%d, %d, %d), want (3, %d, %d)", kind, i, im.C, im.H, im.W, size, size)
					}
					for _, x := range im.Pix {
						if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
							t.Fatalf("%s view %d holds %v", kind, i, x)
						}
					}
				}
			}
			check("global", v.Global, tt.global, tt.gsize)
			check("local", v.Local, tt.local, tt.lsize)
			if len(v.Masks) != tt.masks {
				t.Fatalf("%d masks, want %d", len(v.Masks), tt.masks)
			}
			for _, m := range v.Masks {
				if len(m) != tt.maskLen {
					t.Errorf("mask of %d patches, want %d", len(m), tt.maskLen)
				}
			}
		})
	}
}

// TestPipelineConstantImage: crops, flips, turns and blur keep a constant
// image constant, at its normalised value. With jitter on, each view stays
// constant and its fluxes are the input's times one brightness factor in
// [0.6, 1.4], the same for every band, never clamped.
func TestPipelineConstantImage(t *testing.T) {
	norm := SeedNormalization()
	flux := [3]float32{2, 5, 9} // well outside [0, 1]
	im := data.NewImage(3, 40, 40)
	for c := range 3 {
		for i := range im.Plane(c) {
			im.Plane(c)[i] = flux[c]
		}
	}
	// Put the edge outside the centre crop off-scale: it must be cropped away.
	for x := 0; x < 40; x++ {
		im.Set(0, 0, x, 1e6)
	}
	for _, jitter := range []bool{false, true} {
		cfg := DefaultConfig(MethodDINO)
		cfg.Rot90 = true
		cfg.BlurP1, cfg.BlurP2, cfg.BlurPLocal = 1, 1, 1
		cfg.JitterP = 0
		if jitter {
			cfg.JitterP = 1
		}
		p, err := NewPipeline(cfg, DefaultMaskConfig(MethodDINO), norm)
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.Apply(context.Background(), im, SampleRNG(3, 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		var brighter bool
		for i, view := range slices.Concat(v.Global, v.Local) {
			for c := range 3 {
				p := view.Plane(c)
				for _, x := range p {
					if math.Abs(float64(x-p[0])) > 1e-4 {
						t.Fatalf("jitter %v: view %d band %d not constant: %v and %v", jitter, i, c, p[0], x)
					}
				}
			}
			if err := Denormalize(view, norm); err != nil {
				t.Fatal(err)
			}
			f := float64(view.At(0, 0, 0) / flux[0])
			for c := range 3 {
				if got := float64(view.At(c, 0, 0) / flux[c]); math.Abs(got-f) > 1e-4 {
					t.Errorf("jitter %v: view %d band %d scaled by %v, band 0 by %v", jitter, i, c, got, f)
				}
			}
			if !jitter && math.Abs(f-1) > 1e-5 {
				t.Errorf("view %d scaled by %v, want 1", i, f)
			}
			if lo, hi := 1-cfg.Brightness, 1+cfg.Brightness; jitter && (f < lo-1e-5 || f > hi+1e-5) {
				t.Errorf("jittered view %d scaled by %v, want [%g, %g]", i, f, lo, hi)
			}
			brighter = brighter || f > 1.01
		}
		if jitter && !brighter {
			t.Error("no jittered view got brighter: values look clamped")
		}
	}
}

func TestPipelineDeterminism(t *testing.T) {
	cfg, mc := loadSeed(t, "ibot-vit-small.yaml")
	p, err := NewPipeline(cfg, mc, SeedNormalization())
	if err != nil {
		t.Fatal(err)
	}
	im := randomImage(3, 32, 32, newRNG(11))
	bytesOf := func(seed uint64, epoch, index int) []float32 {
		v, err := p.Apply(context.Background(), im, SampleRNG(seed, epoch, index))
		if err != nil {
			t.Fatal(err)
		}
		var out []float32
		for _, view := range slices.Concat(v.Global, v.Local) {
			out = append(out, view.Pix...)
		}
		for _, m := range v.Masks {
			for _, b := range m {
				out = append(out, map[bool]float32{false: 0, true: 1}[b])
			}
		}
		return out
	}
	a := bytesOf(7, 0, 5)
	if !slices.Equal(a, bytesOf(7, 0, 5)) {
		t.Error("same seed, epoch and index: different views")
	}
	for _, other := range [][3]int{{8, 0, 5}, {7, 1, 5}, {7, 0, 6}} {
		if slices.Equal(a, bytesOf(uint64(other[0]), other[1], other[2])) {
			t.Errorf("seed, epoch, index %v: same views as (7, 0, 5)", other)
		}
	}
}

// TestApplyIntoReuses: ApplyInto into a kept Views gives Apply's values and
// allocates nothing once the buffers exist.
func TestApplyIntoReuses(t *testing.T) {
	cfg, mc := loadSeed(t, "ibot-vit-small.yaml")
	p, err := NewPipeline(cfg, mc, SeedNormalization())
	if err != nil {
		t.Fatal(err)
	}
	im := randomImage(3, 32, 32, newRNG(12))
	want, err := p.Apply(context.Background(), im, SampleRNG(1, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	var v Views
	if err := p.ApplyInto(&v, randomImage(3, 32, 32, newRNG(13)), SampleRNG(9, 9, 9)); err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyInto(&v, im, SampleRNG(1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	for i := range want.Global {
		if !slices.Equal(v.Global[i].Pix, want.Global[i].Pix) || !slices.Equal(v.Masks[i], want.Masks[i]) {
			t.Errorf("global view %d differs from Apply's", i)
		}
	}
	for i := range want.Local {
		if !slices.Equal(v.Local[i].Pix, want.Local[i].Pix) {
			t.Errorf("local view %d differs from Apply's", i)
		}
	}
	rng := SampleRNG(1, 0, 0)
	allocs := testing.AllocsPerRun(20, func() {
		if err := p.ApplyInto(&v, im, rng); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 && !raceEnabled {
		t.Errorf("ApplyInto allocates %v times per image, want 0", allocs)
	}
}

func TestPipelineErrors(t *testing.T) {
	p, err := NewPipeline(DefaultConfig(MethodDINO), DefaultMaskConfig(MethodDINO), SeedNormalization())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		im   data.Image
		want string
	}{
		{"small", data.NewImage(3, 28, 28), "center_crop 32"},
		{"one band", data.NewImage(1, 32, 32), "want 3 bands"},
		{"short pixels", data.Image{C: 3, H: 32, W: 32, Pix: make([]float32, 10)}, "holds 10 values"},
	}
	for _, tt := range tests {
		if _, err := p.Apply(context.Background(), tt.im, SampleRNG(0, 0, 0)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
	bad := DefaultConfig(MethodDINO)
	bad.LocalCropSize = 40
	if _, err := NewPipeline(bad, MaskConfig{}, SeedNormalization()); err == nil {
		t.Error("NewPipeline with local_crop_size 40 > center_crop 32: no error")
	}
	if _, err := NewPipeline(DefaultConfig(MethodDINO), MaskConfig{}, Normalization{}); err == nil {
		t.Error("NewPipeline with zero stds: no error")
	}
}

// A caller that gave up stops the views: Apply checks its context between
// views and returns its error.
func TestApplyStopsWhenCancelled(t *testing.T) {
	cfg := DefaultConfig(MethodDINO)
	cfg.NumLocalCrops = MaxLocalCrops
	p, err := NewPipeline(cfg, DefaultMaskConfig(MethodDINO), SeedNormalization())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cfg.ViewPixels(); err != nil || got != 2*32*32+MaxLocalCrops*20*20 {
		t.Errorf("ViewPixels %d, %v, want %d", got, err, 2*32*32+MaxLocalCrops*20*20)
	}
	cfg.NumLocalCrops = 1 << 62 // refused, not counted
	if _, err := cfg.ViewPixels(); err == nil {
		t.Error("ViewPixels of 2^62 local crops: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Apply(ctx, randomImage(3, 32, 32, newRNG(3)), SampleRNG(0, 0, 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context: %v, want context.Canceled", err)
	}
}

func BenchmarkPipeline(b *testing.B) {
	for _, name := range []string{"dino-vit-small.yaml", "dino-vit-base.yaml", "ibot-vit-small.yaml", "simsiam-vit-small.yaml"} {
		b.Run(strings.TrimSuffix(name, ".yaml"), func(b *testing.B) {
			cfg, mc := loadSeed(b, name)
			p, err := NewPipeline(cfg, mc, SeedNormalization())
			if err != nil {
				b.Fatal(err)
			}
			im := randomImage(3, 32, 32, newRNG(14))
			var v Views
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := p.ApplyInto(&v, im, SampleRNG(1, 0, i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// TestPipelineConcurrent: goroutines sharing one pipeline, each with its own
// generators, get the views a serial run gets (run with -race too).
func TestPipelineConcurrent(t *testing.T) {
	cfg, mc := loadSeed(t, "ibot-vit-small.yaml")
	p, err := NewPipeline(cfg, mc, SeedNormalization())
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 4, 8
	im := randomImage(3, 32, 32, newRNG(15))
	lastLocal := func(i int) []float32 {
		v, err := p.Apply(context.Background(), im, SampleRNG(5, 0, i))
		if err != nil {
			t.Error(err)
			return nil
		}
		return v.Local[len(v.Local)-1].Pix
	}
	want := make([][]float32, workers*per)
	for i := range want {
		want[i] = lastLocal(i)
	}
	got := make([][]float32, workers*per)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w * per; i < (w+1)*per; i++ {
				got[i] = lastLocal(i)
			}
		})
	}
	wg.Wait()
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("sample %d: concurrent views differ from serial ones", i)
		}
	}
}
