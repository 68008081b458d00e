package data

import (
	"fmt"
	"path/filepath"
	"testing"
)

// Cutouts are benchmarked at 3x64x64, cropped to the seed's 32x32 where the
// function crops.

func BenchmarkDecodeNPY(b *testing.B) {
	for _, layout := range []struct {
		descr   string
		fortran bool
	}{{"<f4", false}, {">f8", true}} {
		buf := encodeNPYAs(testImage(3, 64, 64), layout.descr, layout.fortran)
		b.Run(fmt.Sprintf("%s_fortran=%v", layout.descr, layout.fortran), func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := DecodeNPY(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeFITS(b *testing.B) {
	buf := fitsBytes(b, fitsHDU{bitpix: -32, axes: []int{64, 64, 3}, data: testImage(3, 64, 64).Pix})
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := DecodeFITS(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDataset writes n lenses and n non-lenses and returns the folder and
// the list.
func benchDataset(b *testing.B, n int) (string, ClassFiles) {
	dir := b.TempDir()
	var cf ClassFiles
	npy := EncodeNPY(testImage(3, 64, 64))
	for i := range n {
		name := fmt.Sprintf("%d.npy", i)
		writeFile(b, filepath.Join(dir, "lenses", name), npy)
		writeFile(b, filepath.Join(dir, "nonlenses", name), npy)
		cf.Lenses = append(cf.Lenses, name)
		cf.NonLenses = append(cf.NonLenses, name)
	}
	return dir, cf
}

func BenchmarkScan(b *testing.B) {
	dir, cf := benchDataset(b, 250)
	s := &Splits{Train: cf}
	for b.Loop() {
		if _, err := Scan(dir, ScanOptions{ReadOptions: ReadOptions{Crop: 32}, Splits: s}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)/500*1e6, "µs/image")
}

func BenchmarkComputeStats(b *testing.B) {
	dir, cf := benchDataset(b, 250)
	for b.Loop() {
		if _, err := ComputeStats(dir, cf, 32); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)/500*1e6, "µs/image")
}

func BenchmarkReadSeedSplits(b *testing.B) {
	for b.Loop() {
		if _, err := ReadSplits("testdata/seed/indices.pkl"); err != nil {
			b.Fatal(err)
		}
	}
}
