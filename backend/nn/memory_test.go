package nn

import (
	"runtime"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/sslens/sslens/backend/memplan"
	"github.com/sslens/sslens/backend/nn/vit"
)

// heapAlloc is the live heap after a collection.
func heapAlloc() int64 {
	runtime.GC()
	runtime.GC() // the second empties sync.Pool victim caches
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// machineBytes measures the heap a chunk machine for rows crops of size px
// holds once it has run.
func machineBytes(t *testing.T, ps *vit.Params, rows, size int, backward bool) int64 {
	t.Helper()
	g := gorgonia.NewGraph()
	c, err := newChunkedCrops(g, newStorage(false), ps, nil, rows, size, rows, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.SetImages(randomImages(1, rows, size), nil); err != nil {
		t.Fatal(err)
	}
	before := heapAlloc()
	err = c.each(backward, func(m *chunkMachine, lo, hi int) error {
		m.vm.Reset()
		return m.vm.RunAll()
	})
	if err != nil {
		t.Fatal(err)
	}
	after := heapAlloc()
	runtime.KeepAlive(c)
	return after - before
}

// TestPassBytesMatchesHeap: the per-crop estimate against the heap machines
// of 2 and 6 crops really hold, for a global and a local crop size.
func TestPassBytesMatchesHeap(t *testing.T) {
	p := vit.CustomPreset(64, 3, 4)
	p.AttnDrop, p.DropPath = 0.1, 0.1
	ps := backboneParams(t, p, 1)
	for _, size := range []int{32, 16} {
		for _, backward := range []bool{false, true} {
			small, large := machineBytes(t, ps, 8, size, backward), machineBytes(t, ps, 40, size, backward)
			got, want := float64(large-small)/32, float64(memplan.PassBytes(p, size, backward))
			t.Logf("%d px, backward %t: %.0f bytes per crop measured, %.0f estimated", size, backward, got, want)
			if got < 0.75*want || got > 1.25*want {
				t.Errorf("%d px, backward %t: a crop holds %.0f bytes, the estimate says %.0f", size, backward, got, want)
			}
		}
	}
}
