package vit

import "testing"

// BenchmarkNewViTSmall times building and initialising ViT-S/8 (21.4M
// parameters).
func BenchmarkNewViTSmall(b *testing.B) {
	p, _ := LookupPreset("vit_small")
	for b.Loop() {
		if _, err := New(p, 2, testRNG(1)); err != nil {
			b.Fatal(err)
		}
	}
}
