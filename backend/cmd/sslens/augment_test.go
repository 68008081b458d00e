package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/render"
)

// ibotConfig is a seed-style iBOT config with two 20 px local crops.
const ibotConfig = `experiment:
  ssl_training: ibot
network:
  patch_size: 8
  window_size: None
  pred_ratio: 0.3
  pred_ratio_var: 0.
  pred_aspect_ratio:
  - 0.3
  - 3.33
  pred_shape: 'block'
ssl augmentation kwargs:
  augmentation: AugmentationDINOSingleChannel
  center_crop: 32
  global_crop_scale_range: [0.14, 1.0]
  global_crop_size: 32
  local_crop_scale_range: [0.01, 0.14]
  local_crop_size: 20
  num_local_crops: 2
`

func writeCutout(t *testing.T, path string, seed uint64) data.Image {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	im := data.NewImage(3, 32, 32)
	for i := range im.Pix {
		im.Pix[i] = float32(1 + rng.NormFloat64())
	}
	if err := data.WriteNPY(path, im); err != nil {
		t.Fatal(err)
	}
	return im
}

func runAugmentCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runMain(append([]string{"augment"}, args...), &out, &errOut)
	return code, errOut.String()
}

// TestAugmentCommand draws an iBOT sheet and checks its layout, that the
// unmasked patches of the first global view are exactly that view's Lupton
// composite, that the masked ones are shaded, and that the seed fixes the picture.
func TestAugmentCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath, imPath := filepath.Join(dir, "ibot.yaml"), filepath.Join(dir, "cut.npy")
	if err := os.WriteFile(cfgPath, []byte(ibotConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	im := writeCutout(t, imPath, 1)
	draw := func(name, seed string) []byte {
		out := filepath.Join(dir, name)
		if code, stderr := runAugmentCmd(t, "--config", cfgPath, "--image", imPath, "--out", out, "--seed", seed); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := draw("a.png", "7")
	if !bytes.Equal(a, draw("b.png", "7")) {
		t.Error("same seed, different pictures")
	}
	if bytes.Equal(a, draw("c.png", "8")) {
		t.Error("different seeds, same picture")
	}
	sheet, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	// Tiles of 160 px (lcm of 32 and 20, at least 128): input and 2 global
	// views on the first row of 6, 2 local views on the second.
	const tile, pad = 160, 4
	cellH := tile + render.LabelHeight
	if want := image.Rect(0, 0, pad+6*(tile+pad), pad+2*(cellH+pad)); sheet.Bounds() != want {
		t.Fatalf("sheet is %v, want %v", sheet.Bounds(), want)
	}

	conf, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, mc := conf.Augmentation, conf.Network.MaskConfig
	p, err := augment.NewPipeline(cfg, mc, augment.SeedNormalization())
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Apply(context.Background(), im, augment.SampleRNG(7, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	view := v.Global[0]
	view.Pix = slices.Clone(view.Pix)
	if err := augment.Denormalize(view, augment.SeedNormalization()); err != nil {
		t.Fatal(err)
	}
	want := render.Lupton(view, render.DefaultLupton())
	x0, y0 := pad+tile+pad, pad // second tile of the first row
	const f, patch = tile / 32, 8
	masked := 0
	for i, m := range v.Masks[0] {
		py, px := i/4*patch+patch/2, i%4*patch+patch/2
		gr, gg, gb, _ := sheet.At(x0+px*f, y0+py*f).RGBA()
		wr, wg, wb, _ := want.At(px, py).RGBA()
		if !m {
			if gr != wr || gg != wg || gb != wb {
				t.Errorf("unmasked patch %d: sheet pixel (%d, %d, %d), view (%d, %d, %d)", i, gr>>8, gg>>8, gb>>8, wr>>8, wg>>8, wb>>8)
			}
			continue
		}
		masked++
		if gr > wr || gg <= wg || gb <= wb {
			t.Errorf("masked patch %d: sheet pixel (%d, %d, %d) is not the view's (%d, %d, %d) shaded cyan", i, gr>>8, gg>>8, gb>>8, wr>>8, wg>>8, wb>>8)
		}
	}
	if masked == 0 {
		t.Error("no masked patch in the first global view")
	}
}

func TestAugmentNormFrom(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "set")
	for k, class := range []string{"lenses", "nonlenses"} {
		if err := os.MkdirAll(filepath.Join(ds, class), 0o755); err != nil {
			t.Fatal(err)
		}
		writeCutout(t, filepath.Join(ds, class, "a.npy"), uint64(10+k))
	}
	cfgPath, imPath := filepath.Join(dir, "c.yaml"), filepath.Join(dir, "cut.npy")
	if err := os.WriteFile(cfgPath, []byte("experiment:\n  ssl_training: simsiam\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeCutout(t, imPath, 2)
	out := filepath.Join(dir, "v.png")
	if code, stderr := runAugmentCmd(t, "--config", cfgPath, "--image", imPath, "--out", out, "--norm-from", ds); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	// The statistics came from the dataset (and were cached there).
	if _, err := os.Stat(filepath.Join(ds, layout.StatsFile)); err != nil {
		t.Errorf("no statistics computed for --norm-from: %v", err)
	}
}

func TestAugmentCommandErrors(t *testing.T) {
	dir := t.TempDir()
	imPath := filepath.Join(dir, "cut.npy")
	writeCutout(t, imPath, 3)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("experiment:\n  ssl_training: dino\nssl augmentation kwargs:\n  local_crop_size: 40\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join("..", "..", "..", "configs", "reference", "dino-vit-small.yaml")
	out := filepath.Join(dir, "v.png")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", nil, 2, "usage: sslens augment"},
		{"no out", []string{"--config", bad, "--image", imPath}, 2, "--out"},
		{"bad config", []string{"--config", bad, "--image", imPath, "--out", out}, 1,
			"ssl augmentation kwargs.local_crop_size: 40 is larger than center_crop 32"},
		{"missing image", []string{"--config", good, "--image", filepath.Join(dir, "none.npy"), "--out", out}, 1, "none.npy"},
		{"missing dataset", []string{"--config", good, "--image", imPath, "--out", out, "--norm-from", filepath.Join(dir, "nowhere")}, 1, "nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr := runAugmentCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run wrote the picture")
	}
}
