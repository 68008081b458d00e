package pretrained_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sbinet/npyio/npy"

	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/pretrained"
	"github.com/sslens/sslens/backend/ssl"
)

// The fixtures are written by testdata/make_fixtures.py with PyTorch (see
// testdata/README.md): a 48-wide, 2-block, 3-head ViT/8 trained at 224 px.

// readNPY reads a float32 .npy fixture and its shape.
func readNPY(t *testing.T, name string) ([]float32, []int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npy.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var data []float32
	if err := r.Read(&data); err != nil {
		t.Fatal(err)
	}
	return data, r.Header.Descr.Shape
}

// maxDiff is the largest absolute difference of two equal-length slices.
func maxDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	d := 0.0
	for i := range got {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
	}
	return d
}

// TestFixtureFeatures imports each good fixture with its channels kept as
// stored (the fixtures are not natural-image weights, and PyTorch's
// features use them so), loads the checkpoint as fine-tuning does, and
// compares the CLS features on input.npy with PyTorch's.
func TestFixtureFeatures(t *testing.T) {
	images, shape := readNPY(t, "input.npy")
	if !slices.Equal(shape, []int{4, 3, 32, 32}) {
		t.Fatalf("input.npy is %v", shape)
	}
	for _, tc := range []struct {
		src, from, features string
		stateDict, prefix   string
		dropped             []string
	}{
		{"timm_vit_p8_224.safetensors", "", "features_timm.npy", "", "", []string{"head.weight", "head.bias"}},
		{"dino_vit_p8_224.pth", "", "features_dino_teacher.npy", "teacher", "backbone.", []string{"head."}},
		{"ibot_vit_p8_224.pth", "", "features_timm.npy", "state_dict", "backbone.", []string{"backbone.masked_embed", "head."}},
	} {
		t.Run(tc.src, func(t *testing.T) {
			out := t.TempDir()
			im, err := pretrained.Import(filepath.Join("testdata", tc.src), pretrained.Options{Out: out, Heads: 3, KeepChannels: true})
			if err != nil {
				t.Fatal(err)
			}
			s := im.Sidecar.Source
			if s.StateDict != tc.stateDict || s.Prefix != tc.prefix || len(s.Taken) != 30 || s.Channels != "" ||
				!strings.HasPrefix(s.PosEmbed, "28x28 -> 4x4") {
				t.Errorf("source %+v", s)
			}
			for _, d := range tc.dropped {
				if !slices.ContainsFunc(s.Dropped, func(k string) bool { return strings.HasPrefix(k, d) }) {
					t.Errorf("dropped %q lacks %s", s.Dropped, d)
				}
			}
			ck, err := ssl.LoadCheckpoint(out)
			if err != nil {
				t.Fatal(err)
			}
			if p := ck.Params.Preset; p.Name != "vit_d48_depth2_heads3" || p.ImageSize != 32 || ck.HasHead {
				t.Errorf("checkpoint preset %+v, head %v", p, ck.HasHead)
			}
			c, err := nn.NewClassifier(ck.Params, nn.Options{Batch: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			feats, err := c.Features(images)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := readNPY(t, tc.features)
			d := maxDiff(t, slices.Concat(feats...), want)
			t.Logf("CLS features differ from PyTorch's by at most %.2g", d)
			if d > 1e-4 {
				t.Errorf("CLS features differ from PyTorch's by %g, want <= 1e-4", d)
			}
		})
	}
}

// TestFixtureStudent takes DINO's student instead of its teacher: its
// features are not the teacher's.
func TestFixtureStudent(t *testing.T) {
	im, err := pretrained.Import(filepath.Join("testdata", "dino_vit_p8_224.pth"),
		pretrained.Options{Heads: 3, KeepChannels: true, From: "student"})
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := pretrained.Import(filepath.Join("testdata", "dino_vit_p8_224.pth"), pretrained.Options{Heads: 3, KeepChannels: true})
	if err != nil {
		t.Fatal(err)
	}
	s := im.Sidecar.Source
	if s.StateDict != "student" || s.Prefix != "module.backbone." {
		t.Errorf("source %+v", s)
	}
	if d := maxDiff(t, im.Params.Get("norm.weight").Data, teacher.Params.Get("norm.weight").Data); math.Abs(d-0.01) > 1e-6 {
		t.Errorf("student and teacher norm.weight differ by %g, want 0.01", d)
	}
}

func TestFixtureResampledPosEmbed(t *testing.T) {
	im, err := pretrained.Import(filepath.Join("testdata", "timm_vit_p8_224.safetensors"), pretrained.Options{Heads: 3})
	if err != nil {
		t.Fatal(err)
	}
	want, shape := readNPY(t, "resampled_pos_embed.npy")
	got := im.Params.Get("pos_embed")
	if !slices.Equal(got.Shape, shape) {
		t.Fatalf("pos_embed %v, want %v", got.Shape, shape)
	}
	if d := maxDiff(t, got.Data, want); d > 1e-5 {
		t.Errorf("resampled pos_embed differs from PyTorch's by %g, want <= 1e-5", d)
	}
}

func TestFixtureRefusals(t *testing.T) {
	const pwned = "/tmp/sslens-pwned"
	os.Remove(pwned)
	for _, tc := range []struct{ src, want string }{
		{"malicious.pth", "refusing the global posix.system"},
		{"patch16_vit_224.pth", "patch size 16"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		_, err := pretrained.Import(filepath.Join("testdata", tc.src), pretrained.Options{Out: out, Heads: 3})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.want)
		}
		t.Logf("%s: %v", tc.src, err)
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: refused, yet %s was written", tc.src, out)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Errorf("reading malicious.pth ran its code: %s exists", pwned)
	}
}
