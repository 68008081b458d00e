package ckpt

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/nn/vit"
)

// TestCustomArchitectureRoundTrip saves a backbone outside the preset
// table and rebuilds its preset from the sidecar alone.
func TestCustomArchitectureRoundTrip(t *testing.T) {
	p := vit.CustomPreset(16, 2, 2)
	sc := Sidecar{Preset: p.Name, Architecture: ArchitectureOf(p),
		Source: &Source{File: "w.pth", Format: "pytorch", StateDict: "teacher", Dropped: []string{"head.weight"}}}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := Save(path, []Tensor{{Name: "cls_token", Shape: []int{1, 1, 16}, Data: make([]float32, 16)}}, sc); err != nil {
		t.Fatal(err)
	}
	_, got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source == nil || got.Source.StateDict != "teacher" || len(got.Source.Dropped) != 1 {
		t.Errorf("source = %+v", got.Source)
	}
	q, err := got.Backbone()
	if err != nil {
		t.Fatal(err)
	}
	if q != p {
		t.Errorf("Backbone() = %+v, want %+v", q, p)
	}

	small, _ := vit.LookupPreset("vit_small")
	for _, sc := range []Sidecar{{Preset: "vit_small"}, {Preset: "vit_small", Architecture: ArchitectureOf(small)}} {
		if q, err := sc.Backbone(); err != nil || q != small {
			t.Errorf("Backbone() of %+v = %+v, %v", sc, q, err)
		}
	}
	if _, err := (Sidecar{Preset: "vit_d48_depth2_heads3"}).Backbone(); err == nil || !strings.Contains(err.Error(), "unknown preset") {
		t.Errorf("an unknown name without an architecture: %v", err)
	}
	bad := Sidecar{Preset: "x", Architecture: &Architecture{Dim: 10, Depth: 1, Heads: 3, MLPRatio: 4, PatchSize: 8, InChans: 3}}
	if _, err := bad.Backbone(); err == nil || !strings.Contains(err.Error(), "not a multiple of Heads") {
		t.Errorf("an architecture that cannot build: %v", err)
	}
}
