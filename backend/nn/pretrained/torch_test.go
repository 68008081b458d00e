package pretrained

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pickler writes a protocol-2 pickle stream by hand, as torch.save lays a
// state dict out, so that tests need no PyTorch.
type pickler struct{ bytes.Buffer }

func (p *pickler) str(s string) {
	p.WriteByte('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
}

func (p *pickler) global(module, name string) { p.WriteString("c" + module + "\n" + name + "\n") }

func (p *pickler) int(v int) {
	p.WriteByte('J')
	binary.Write(&p.Buffer, binary.LittleEndian, int32(v))
}

func (p *pickler) tuple(vs []int) {
	p.WriteByte('(')
	for _, v := range vs {
		p.int(v)
	}
	p.WriteByte('t')
}

// tensor pushes torch._utils._rebuild_tensor_v2 of storage key (numel
// float32 values) with the given offset, size and stride.
func (p *pickler) tensor(key string, numel, offset int, size, stride []int) {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.WriteByte('(')
	p.WriteByte('(')
	p.str("storage")
	p.global("torch", "FloatStorage")
	p.str(key)
	p.str("cpu")
	p.int(numel)
	p.WriteString("tQ") // tuple, BINPERSID
	p.int(offset)
	p.tuple(size)
	p.tuple(stride)
	p.WriteByte('\x89') // False
	p.global("collections", "OrderedDict")
	p.WriteString(")R") // OrderedDict()
	p.WriteString("tR")
}

// torchZip writes a torch.save-style archive: archive/data.pkl and one
// record of little-endian float32 per storage.
func torchZip(t *testing.T, pkl []byte, storages map[string][]float32) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("archive/data.pkl", pkl)
	for key, vs := range storages {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		add("archive/data/"+key, b)
	}
	add("archive/version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.pth")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadTorchTensors(t *testing.T) {
	var p pickler
	p.WriteString("\x80\x02}(") // dict, mark
	p.str("w")
	p.tensor("0", 6, 0, []int{2, 3}, []int{3, 1})
	p.str("wT") // the transpose, sharing the storage
	p.tensor("0", 6, 0, []int{3, 2}, []int{1, 3})
	p.str("row")
	p.tensor("0", 6, 3, []int{3}, []int{1})
	p.WriteString("u.")
	path := torchZip(t, p.Bytes(), map[string][]float32{"0": {1, 2, 3, 4, 5, 6}})
	obj, err := readTorch(path)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := findStateDict(obj, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{"w": {1, 2, 3, 4, 5, 6}, "wT": {1, 4, 2, 5, 3, 6}, "row": {4, 5, 6}}
	for _, e := range sd.entries {
		got, err := e.read()
		if err != nil || !slices.Equal(got, want[e.name]) {
			t.Errorf("%s = %v (%v), want %v", e.name, got, err, want[e.name])
		}
	}
	if _, err := findStateDict(obj, "teacher"); err == nil || !strings.Contains(err.Error(), "holds one state dict") {
		t.Errorf("from teacher on a plain state dict: %v", err)
	}
}

func TestReadTorchRefuses(t *testing.T) {
	system := "\x80\x02cposix\nsystem\nX\x04\x00\x00\x00echo\x85R."
	for _, tc := range []struct {
		name     string
		pkl      string
		storages map[string][]float32
		want     string
	}{
		{"os.system", system, nil, "refusing the global posix.system"},
		{"builtins.eval", "\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.", nil, "refusing the global builtins.eval"},
		{"extension code", "\x80\x02\x82\x01.", nil, "refusing extension code 1"},
		{"truncated storage", func() string {
			var p pickler
			p.WriteString("\x80\x02")
			p.tensor("0", 100, 0, []int{100}, []int{1})
			p.WriteString(".")
			return p.String()
		}(), map[string][]float32{"0": {1, 2}}, "record of 8 bytes, want 400"},
		{"out of bounds view", func() string {
			var p pickler
			p.WriteString("\x80\x02}(")
			p.str("w")
			p.tensor("0", 2, 1, []int{2}, []int{1})
			p.WriteString("u.")
			return p.String()
		}(), map[string][]float32{"0": {1, 2}}, "reaches past its storage of 2"},
	} {
		path := torchZip(t, []byte(tc.pkl), tc.storages)
		obj, err := readTorch(path)
		if err == nil {
			var sd stateDict
			if sd, err = findStateDict(obj, ""); err == nil {
				_, err = sd.entries[0].read()
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestReadTorchNamespace reads an argparse.Namespace, as DINO's
// checkpoints keep their arguments, as an inert value.
func TestReadTorchNamespace(t *testing.T) {
	var p pickler
	p.WriteString("\x80\x02}(")
	p.str("args")
	p.global("argparse", "Namespace")
	p.WriteString(")\x81}(") // NEWOBJ, then its __dict__
	p.str("arch")
	p.str("vit_small")
	p.WriteString("ub")
	p.str("w")
	p.tensor("0", 2, 0, []int{2}, []int{1})
	p.WriteString("u.")
	path := torchZip(t, p.Bytes(), map[string][]float32{"0": {1, 2}})
	obj, err := readTorch(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := findStateDict(obj, ""); err == nil || !strings.Contains(err.Error(), "no state dict") {
		t.Errorf("err = %v", err)
	}
}
