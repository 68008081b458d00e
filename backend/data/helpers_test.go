package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testImage returns a (c, h, w) image whose pixels all differ, so a
// transposed or shifted read cannot pass.
func testImage(c, h, w int) Image {
	im := NewImage(c, h, w)
	for i := range im.Pix {
		im.Pix[i] = float32(i)*0.25 - 3
	}
	return im
}

// npyFile assembles a version 1.0 .npy from a header dict and raw data,
// padding the header as numpy does.
func npyFile(header string, data []byte) []byte {
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	out := []byte("\x93NUMPY\x01\x00")
	out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

// encodeNPYAs writes im as .npy with dtype descr ('<f4', '>f8', ...) in C or
// Fortran order, the layouts numpy produces.
func encodeNPYAs(im Image, descr string, fortran bool) []byte {
	var order binary.AppendByteOrder = binary.LittleEndian
	if descr[0] == '>' {
		order = binary.BigEndian
	}
	f64 := strings.HasSuffix(descr, "8")
	var data []byte
	put := func(v float32) {
		if f64 {
			data = order.AppendUint64(data, math.Float64bits(float64(v)))
		} else {
			data = order.AppendUint32(data, math.Float32bits(v))
		}
	}
	if fortran {
		for x := 0; x < im.W; x++ {
			for y := 0; y < im.H; y++ {
				for c := 0; c < im.C; c++ {
					put(im.At(c, y, x))
				}
			}
		}
	} else {
		for _, v := range im.Pix {
			put(v)
		}
	}
	fo := "False"
	if fortran {
		fo = "True"
	}
	return npyFile(fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d, %d), }", descr, fo, im.C, im.H, im.W), data)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameImage(t testing.TB, got, want Image) {
	t.Helper()
	if got.C != want.C || got.H != want.H || got.W != want.W || len(got.Pix) != len(want.Pix) {
		t.Fatalf("shape (%d,%d,%d) len %d, want (%d,%d,%d)", got.C, got.H, got.W, len(got.Pix), want.C, want.H, want.W)
	}
	for i := range want.Pix {
		if got.Pix[i] != want.Pix[i] {
			t.Fatalf("pixel %d = %v, want %v", i, got.Pix[i], want.Pix[i])
		}
	}
}

func readTestFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
