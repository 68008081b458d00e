package data

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/layout"
)

// statsImage returns a 3x4x4 image whose central 2x2 band g is crop (row
// major), band r is 10*g+1, band i is -g; the border is 1000, so statistics
// that ignore the crop are far off.
func statsImage(crop [4]float32) Image {
	im := NewImage(3, 4, 4)
	for i := range im.Pix {
		im.Pix[i] = 1000
	}
	for k, v := range crop {
		y, x := 1+k/2, 1+k%2
		im.Set(0, y, x, v)
		im.Set(1, y, x, 10*v+1)
		im.Set(2, y, x, -v)
	}
	return im
}

// statsDataset writes three images and returns the folder and train list.
func statsDataset(t *testing.T) (string, ClassFiles) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "lenses", "a.npy"), EncodeNPY(statsImage([4]float32{1, 2, 3, 4})))
	writeFile(t, filepath.Join(dir, "lenses", "b.npy"), EncodeNPY(statsImage([4]float32{0, 0, 0, 0})))
	writeFile(t, filepath.Join(dir, "nonlenses", "c.npy"), EncodeNPY(statsImage([4]float32{2, 4, 6, 8})))
	return dir, ClassFiles{Lenses: []string{"a.npy", "b.npy"}, NonLenses: []string{"c.npy"}}
}

// Expected by hand. Band g crops: [1 2 3 4], [0 0 0 0], [2 4 6 8]. Per image
// np.std (ddof 0): sqrt(1.25), 0, sqrt(5); their mean is sqrt(1.25). All 12
// pixels: mean 2.5, squared deviations 75, global std sqrt(75/12) = 2.5.
var wantStats = Stats{
	Mean:      [3]float64{2.5, 26, -2.5},
	Std:       [3]float64{math.Sqrt(1.25), 10 * math.Sqrt(1.25), math.Sqrt(1.25)},
	GlobalStd: [3]float64{2.5, 25, 2.5},
	Crop:      2,
	Count:     3,
}

func closeStats(t *testing.T, got, want Stats) {
	t.Helper()
	if got.Crop != want.Crop || got.Count != want.Count {
		t.Fatalf("crop %d count %d, want %d %d", got.Crop, got.Count, want.Crop, want.Count)
	}
	for c := range 3 {
		for _, p := range [][2]float64{{got.Mean[c], want.Mean[c]}, {got.Std[c], want.Std[c]}, {got.GlobalStd[c], want.GlobalStd[c]}} {
			if math.Abs(p[0]-p[1]) > 1e-9*math.Max(1, math.Abs(p[1])) {
				t.Fatalf("band %s: got %+v, want %+v", Bands[c], got, want)
			}
		}
	}
}

func TestComputeStats(t *testing.T) {
	dir, train := statsDataset(t)
	st, err := ComputeStats(dir, train, 2)
	if err != nil {
		t.Fatal(err)
	}
	closeStats(t, st, wantStats)
}

func TestComputeStatsErrors(t *testing.T) {
	dir, train := statsDataset(t)
	nan := statsImage([4]float32{1, float32(math.NaN()), 3, 4})
	writeFile(t, filepath.Join(dir, "nonlenses", "nan.npy"), EncodeNPY(nan))
	cases := []struct {
		train ClassFiles
		crop  int
		msg   string
	}{
		{ClassFiles{Lenses: append(train.Lenses, "gone.npy")}, 2, "data: lenses/gone.npy: open: no such file"},
		{ClassFiles{NonLenses: []string{"nan.npy"}}, 2, "data: nonlenses/nan.npy: non-finite pixels"},
		{train, 8, "data: lenses/a.npy: smaller than the crop"},
		{ClassFiles{}, 2, "no train images"},
	}
	for _, c := range cases {
		_, err := ComputeStats(dir, c.train, c.crop)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("err = %v, want %q", err, c.msg)
		}
	}
}

func TestLoadStatsCache(t *testing.T) {
	dir, train := statsDataset(t)
	s := Splits{Train: train, Test: ClassFiles{Lenses: []string{"t.npy"}}}
	st, err := LoadStats(dir, s, 2)
	if err != nil {
		t.Fatal(err)
	}
	closeStats(t, st, wantStats)
	var cache statsCache
	if err := json.Unmarshal(readTestFile(t, filepath.Join(dir, layout.StatsFile)), &cache); err != nil {
		t.Fatal(err)
	}
	closeStats(t, cache.Stats, wantStats)

	// Same crop and train list: served from the cache, so a changed image
	// goes unnoticed (the cache is keyed by names, not contents).
	writeFile(t, filepath.Join(dir, "lenses", "b.npy"), EncodeNPY(statsImage([4]float32{9, 9, 9, 9})))
	reordered := Splits{Train: ClassFiles{Lenses: []string{"b.npy", "a.npy"}, NonLenses: train.NonLenses}}
	if st, err = LoadStats(dir, reordered, 2); err != nil {
		t.Fatal(err)
	}
	closeStats(t, st, wantStats)

	// Another crop, or another train list: stale, recomputed and recached.
	if st, err = LoadStats(dir, s, 4); err != nil || st.Crop != 4 || st.Mean[0] < 100 {
		t.Errorf("crop 4: %+v, %v; want the border included", st, err)
	}
	fewer := Splits{Train: ClassFiles{Lenses: []string{"a.npy"}}}
	if st, err = LoadStats(dir, fewer, 2); err != nil || st.Count != 1 || st.Mean[0] != 2.5 {
		t.Errorf("one image: %+v, %v", st, err)
	}
	if err := json.Unmarshal(readTestFile(t, filepath.Join(dir, layout.StatsFile)), &cache); err != nil || cache.Stats.Count != 1 {
		t.Errorf("cache not rewritten: %+v, %v", cache, err)
	}

	// A corrupt cache is recomputed, not an error.
	writeFile(t, filepath.Join(dir, layout.StatsFile), []byte("{"))
	if st, err = LoadStats(dir, fewer, 2); err != nil || st.Count != 1 {
		t.Errorf("corrupt cache: %+v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dir, layout.StatsFile)); err != nil {
		t.Error(err)
	}
}
