package ckpt

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sslens/sslens/backend/nn/vit"
)

// BenchmarkSaveLoadViTSmall times writing and reading a ViT-S/8 checkpoint
// (85.5 MB of float32).
func BenchmarkSaveLoadViTSmall(b *testing.B) {
	p, _ := vit.LookupPreset("vit_small")
	ps, err := vit.New(p, 2, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "model.safetensors")
	b.SetBytes(4 * int64(ps.NumElements()))
	b.Run("Save", func(b *testing.B) {
		b.SetBytes(4 * int64(ps.NumElements()))
		for b.Loop() {
			if err := Save(path, ParamTensors(ps), Sidecar{Preset: p.Name, NumClasses: 2}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LoadInto", func(b *testing.B) {
		b.SetBytes(4 * int64(ps.NumElements()))
		for b.Loop() {
			if _, err := LoadInto(path, ps); err != nil {
				b.Fatal(err)
			}
		}
	})
}
