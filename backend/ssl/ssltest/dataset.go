package ssltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
)

// Split sizes one split of a synthetic dataset. Signal is the peak of a
// round blob (sigma 3 px) added to the centre of every band of each lens:
// positive makes lenses brighter, negative dimmer, 0 leaves the classes
// indistinguishable.
type Split struct {
	Lenses, NonLenses int
	Signal            float64
}

// Spec describes a synthetic dataset.
type Spec struct {
	Train, Val, Test Split
	Size             int    // image side in px
	Seed             uint64 // the same seed writes the same files
}

// TempDataset writes spec into a fresh temporary folder of tb, failing tb
// if it cannot, and returns the folder and its splits.
func TempDataset(tb testing.TB, spec Spec) (string, data.Splits) {
	tb.Helper()
	dir := tb.TempDir()
	s, err := WriteDataset(dir, spec)
	if err != nil {
		tb.Fatal(err)
	}
	return dir, s
}

// WriteDataset writes spec's images in the seed's layout,
// dir/lenses/<i>.npy and dir/nonlenses/<i>.npy ((3, Size, Size) float32:
// per-band sky levels 0.2, 0.7, 1.3 plus Gaussian noise of 0.3, and the
// lens blob), and dir/splits.json, and returns the splits.
func WriteDataset(dir string, spec Spec) (data.Splits, error) {
	if spec.Size < 1 {
		return data.Splits{}, fmt.Errorf("ssltest: image size %d", spec.Size)
	}
	for _, l := range []data.Label{data.Lens, data.NonLens} {
		if err := os.MkdirAll(filepath.Join(dir, data.ClassDirs[l]), 0o755); err != nil {
			return data.Splits{}, err
		}
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 7))
	sky := [3]float32{0.2, 0.7, 1.3}
	var s data.Splits
	next := 0
	for i, sp := range []Split{spec.Train, spec.Val, spec.Test} {
		cf := s.Split(data.SplitNames[i])
		for _, l := range []data.Label{data.Lens, data.NonLens} {
			n := sp.NonLenses
			if l == data.Lens {
				n = sp.Lenses
			}
			for range n {
				im := data.NewImage(3, spec.Size, spec.Size)
				mid := float64(spec.Size-1) / 2
				for c := range 3 {
					for y := range spec.Size {
						for x := range spec.Size {
							v := sky[c] + float32(0.3*rng.NormFloat64())
							if l == data.Lens {
								r2 := (float64(y)-mid)*(float64(y)-mid) + (float64(x)-mid)*(float64(x)-mid)
								v += float32(sp.Signal * math.Exp(-r2/18))
							}
							im.Set(c, y, x, v)
						}
					}
				}
				file := fmt.Sprintf("%d.npy", next)
				next++
				if err := data.WriteNPY(filepath.Join(dir, data.ClassDirs[l], file), im); err != nil {
					return data.Splits{}, err
				}
				if l == data.Lens {
					cf.Lenses = append(cf.Lenses, file)
				} else {
					cf.NonLenses = append(cf.NonLenses, file)
				}
			}
		}
	}
	return s, data.WriteSplitsJSON(layout.Dataset(dir).Path(layout.SplitsJSON), s)
}
