package augment

import (
	"math"
	"slices"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

func TestNormalizeRoundTrip(t *testing.T) {
	n := SeedNormalization()
	im := randomImage(3, 5, 4, newRNG(5))
	orig := slices.Clone(im.Pix)
	if err := Normalize(im, n); err != nil {
		t.Fatal(err)
	}
	// A pixel equal to the band mean maps to 0, mean + std to 1.
	probe := data.Image{C: 3, H: 1, W: 2, Pix: []float32{
		n.Mean[0], n.Mean[0] + n.Std[0], n.Mean[1], n.Mean[1] + n.Std[1], n.Mean[2], n.Mean[2] + n.Std[2]}}
	if err := Normalize(probe, n); err != nil {
		t.Fatal(err)
	}
	for i, v := range probe.Pix {
		if want := float64(i % 2); math.Abs(float64(v)-want) > 1e-6 {
			t.Errorf("normalised probe %d = %v, want %v", i, v, want)
		}
	}
	if err := Denormalize(im, n); err != nil {
		t.Fatal(err)
	}
	for i, v := range im.Pix {
		if math.Abs(float64(v-orig[i])) > 1e-5 {
			t.Fatalf("round trip changed pixel %d: %v -> %v", i, orig[i], v)
		}
	}
	if err := Normalize(data.NewImage(1, 2, 2), n); err == nil {
		t.Error("normalising a 1-band image: no error")
	}
}

func TestNormalizationValidate(t *testing.T) {
	tests := []struct {
		name string
		n    Normalization
		ok   bool
	}{
		{"seed", SeedNormalization(), true},
		{"zero std", Normalization{Std: [3]float32{1, 0, 1}}, false},
		{"negative std", Normalization{Std: [3]float32{1, 1, -2}}, false},
		{"NaN mean", Normalization{Mean: [3]float32{float32(math.NaN()), 0, 0}, Std: [3]float32{1, 1, 1}}, false},
	}
	for _, tt := range tests {
		if err := tt.n.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestColorJitterNoClamp: values far outside [0, 1] are scaled, never
// clipped, factors stay in their ranges, and contrast keeps band means.
func TestColorJitterNoClamp(t *testing.T) {
	rng := newRNG(6)
	var lo, hi float64 = math.Inf(1), math.Inf(-1)
	for range 2000 {
		im := constImage(3, 4, 4, 5)
		im.Set(1, 0, 0, -3)
		ColorJitter(im, 0.4, 0, rng) // brightness only
		f := float64(im.At(0, 0, 0)) / 5
		lo, hi = min(lo, f), max(hi, f)
		if got := im.At(1, 0, 0); math.Abs(float64(got)+3*f) > 1e-5 {
			t.Fatalf("brightness %v turned -3 into %v", f, got)
		}
	}
	if lo < 0.6-1e-6 || hi > 1.4+1e-6 || lo > 0.62 || hi < 1.38 {
		t.Errorf("brightness factors span [%v, %v], want about [0.6, 1.4]", lo, hi)
	}
	im := randomImage(3, 8, 8, rng)
	for i := range im.Pix {
		im.Pix[i] = im.Pix[i]*4 + 10 // well outside [0, 1]
	}
	means := bandMeans(im)
	ColorJitter(im, 0, 0.8, rng) // contrast only
	for c, m := range bandMeans(im) {
		if math.Abs(m-means[c]) > 1e-4 {
			t.Errorf("contrast moved band %d's mean from %v to %v", c, means[c], m)
		}
	}
	if mx := slices.Max(im.Pix); mx <= 1 {
		t.Errorf("max %v: values were clamped to [0, 1]", mx)
	}
}

func bandMeans(im data.Image) []float64 {
	out := make([]float64, im.C)
	for c := range out {
		for _, v := range im.Plane(c) {
			out[c] += float64(v) / float64(im.H*im.W)
		}
	}
	return out
}
