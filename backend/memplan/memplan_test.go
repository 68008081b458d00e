package memplan

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn/vit"
)

// TestBackboneValues counts the parameters vit.New makes.
func TestBackboneValues(t *testing.T) {
	for _, name := range []string{"vit_nano", "vit_small"} {
		p, err := vit.LookupPreset(name)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := vit.New(p, 0, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := BackboneValues(p), int64(ps.NumElements()); got != want {
			t.Errorf("%s: %d parameters counted, vit.New makes %d", name, got, want)
		}
	}
}

// TestChoose: an explicit micro-batch wins (and says when it overrides the
// budget), a budget picks the largest divisor of the batch that fits, a
// budget below one image per pass and a malformed size are refused naming
// the key.
func TestChoose(t *testing.T) {
	cfg := config.Default(config.DINO)
	cfg.Train.BatchSize = 8
	p, err := vit.LookupPreset("vit_nano")
	if err != nil {
		t.Fatal(err)
	}
	s := PretrainStep(&cfg, p, 0)
	whole, err := Choose(&cfg, s)
	if err != nil || whole.Chunk != 8 || whole.Estimate != s.Bytes(8) {
		t.Fatalf("no budget: %+v, %v; want the whole batch", whole, err)
	}
	cfg.Train.MaxMemory = fmt.Sprint(s.Bytes(4) + 1)
	if m, err := Choose(&cfg, s); err != nil || m.Chunk != 4 || m.Budget != s.Bytes(4)+1 {
		t.Errorf("budget just above a chunk of 4: %+v, %v", m, err)
	}
	cfg.Train.MicroBatch = 2
	if m, err := Choose(&cfg, s); err != nil || m.Chunk != 2 || !strings.Contains(m.Note(8), "micro-batches of 2 images") {
		t.Errorf("micro_batch 2 with a budget: %+v, %v; want 2", m, err)
	}
	cfg.Train.MicroBatch = 8
	if m, err := Choose(&cfg, s); err != nil || m.Chunk != 8 || !strings.Contains(m.Note(8), "train args.micro_batch overrides train args.max_memory") {
		t.Errorf("micro_batch 8 above the budget: %+v, %v, %q", m, err, m.Note(8))
	}
	cfg.Train.MicroBatch, cfg.Train.MaxMemory = 0, fmt.Sprint(s.Bytes(1)-1)
	if _, err := Choose(&cfg, s); err == nil || !strings.Contains(err.Error(), "train args.max_memory: a vit_nano step needs at least") {
		t.Errorf("a budget below one image: %v", err)
	}
	cfg.Train.MaxMemory = "six gigs"
	if _, err := Choose(&cfg, s); err == nil || !strings.Contains(err.Error(), `train args.max_memory: "six gigs" is not a memory size`) {
		t.Errorf("a malformed budget: %v", err)
	}
	if s.Bytes(1) >= s.Bytes(2) || s.Bytes(4) >= s.Bytes(8) {
		t.Errorf("estimates do not grow with the chunk: %d %d %d %d", s.Bytes(1), s.Bytes(2), s.Bytes(4), s.Bytes(8))
	}
}
