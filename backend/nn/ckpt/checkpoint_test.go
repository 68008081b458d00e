package ckpt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/nn/vit"
)

func toyPreset(name string, dim int) vit.Preset {
	return vit.Preset{Name: name, Dim: dim, Depth: 2, Heads: 2, MLPRatio: 4, PatchSize: 8, ImageSize: 16,
		InChans: 3, DropPath: 0.1, AttnDrop: 0.2, QKVBias: true}
}

func toyParams(t *testing.T, name string, dim, classes int, seed uint64) *vit.Params {
	t.Helper()
	ps, err := vit.New(toyPreset(name, dim), classes, rand.New(rand.NewPCG(seed, 7)))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func testSidecar() Sidecar {
	return Sidecar{
		Preset: "toy", NumClasses: 2, Config: json.RawMessage(`{"lr":0.0005,"optimizer":"AdamW"}`),
		Epoch: 3, Step: 120, Metrics: map[string]float64{"knn_acc": 0.875, "loss": 2.5},
		Normalization: Normalization{Mean: [3]float64{0.1995, 0.6668, 1.2940}, Std: [3]float64{0.2700, 0.9861, 2.1648}},
		Created:       time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "model.safetensors")
	ps := toyParams(t, "toy", 8, 2, 1)
	if err := Save(path, ParamTensors(ps), testSidecar()); err != nil {
		t.Fatal(err)
	}
	ts, sc, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != ps.Len() {
		t.Fatalf("loaded %d tensors, saved %d", len(ts), ps.Len())
	}
	for _, tn := range ts {
		p := ps.Get(tn.Name)
		if p == nil || !slices.Equal(tn.Shape, p.Shape) || !slices.Equal(tn.Data, p.Data) {
			t.Errorf("tensor %q does not round-trip", tn.Name)
		}
	}
	want := testSidecar()
	raw, _ := os.ReadFile(path)
	sum := sha256.Sum256(raw)
	want.Format, want.SHA256 = FormatVersion, hex.EncodeToString(sum[:])
	var config bytes.Buffer // the sidecar is indented, so compare the config compacted
	if err := json.Compact(&config, sc.Config); err != nil {
		t.Fatal(err)
	}
	if sc.Format != want.Format || sc.SHA256 != want.SHA256 || sc.Preset != want.Preset || sc.NumClasses != 2 ||
		sc.Epoch != 3 || sc.Step != 120 || sc.Metrics["knn_acc"] != 0.875 || sc.Normalization != want.Normalization ||
		!sc.Created.Equal(want.Created) || config.String() != string(want.Config) {
		t.Errorf("sidecar:\n got %+v\nwant %+v", sc, want)
	}
	if got := SidecarPath(path); got != filepath.Join(dir, "run", "model.json") {
		t.Errorf("SidecarPath = %s", got)
	}
	assertOnlyFiles(t, filepath.Join(dir, "run"), "model.json", "model.safetensors")

	// LoadInto fills a differently initialised model of the same preset.
	other := toyParams(t, "toy", 8, 2, 99)
	if _, err := LoadInto(path, other); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.List() {
		if !slices.Equal(other.Get(p.Name).Data, p.Data) {
			t.Errorf("LoadInto: %s differs", p.Name)
		}
	}
}

// assertOnlyFiles fails if dir holds anything but names (no temporary files).
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestFileLayout reads a written file by the format's reference layout,
// without the library: 8-byte little-endian header length, a JSON header
// padded to 8 bytes, then the tensors' little-endian bytes back to back.
func TestFileLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	ts := []Tensor{
		{Name: "norm.weight", Shape: []int{2}, Data: []float32{1, -2.5}},
		{Name: "cls_token", Shape: []int{1, 1, 2}, Data: []float32{0.25, 3}},
	}
	if err := Save(path, ts, testSidecar()); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw)
	if n%8 != 0 || 8+n+16 != uint64(len(raw)) {
		t.Fatalf("header length %d, file %d bytes", n, len(raw))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	if string(header["__metadata__"]) != `{"format":"pt"}` {
		t.Errorf("__metadata__ = %s", header["__metadata__"])
	}
	data := raw[8+n:]
	for _, tn := range ts {
		var e struct {
			DType   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(header[tn.Name], &e); err != nil {
			t.Fatalf("%s: %v", tn.Name, err)
		}
		if e.DType != "F32" || !slices.Equal(e.Shape, tn.Shape) || e.Offsets[1]-e.Offsets[0] != 4*len(tn.Data) {
			t.Errorf("%s: header entry %+v", tn.Name, e)
			continue
		}
		for i, v := range tn.Data {
			got := math.Float32frombits(binary.LittleEndian.Uint32(data[e.Offsets[0]+4*i:]))
			if got != v {
				t.Errorf("%s[%d] = %g on disk, want %g", tn.Name, i, got, v)
			}
		}
	}
}

// rawFile builds a safetensors file from a header and data, as another
// writer (PyTorch's safetensors) would lay it out.
func rawFile(header string, data []byte) []byte {
	h := []byte(header)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

func f32bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestReadTensorsReferenceFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ref.safetensors")
	file := rawFile(`{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},`+
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32bytes(1.5, -2, 7))
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := ReadTensors(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Tensor{{"a", []int{2}, []float32{1.5, -2}}, {"b", []int{1, 1}, []float32{7}}}
	if len(ts) != 2 {
		t.Fatalf("%d tensors", len(ts))
	}
	for i := range want {
		if ts[i].Name != want[i].Name || !slices.Equal(ts[i].Shape, want[i].Shape) || !slices.Equal(ts[i].Data, want[i].Data) {
			t.Errorf("tensor %d = %+v, want %+v", i, ts[i], want[i])
		}
	}
}

func TestReadTensorsRefuses(t *testing.T) {
	twelve := f32bytes(1, 2, 3)
	valid := rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, twelve)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"shorter than the length field", valid[:5], "truncated: 5 bytes"},
		{"header length beyond the file", valid[:40], "exceeds the 32 bytes that follow it"},
		{"truncated data", valid[:len(valid)-4], `tensor "b": data offsets [8, 12) reach past the 8 bytes of data (truncated file?)`},
		{"corrupt header", rawFile(`{"a":{"dtype":"F32",`, nil), "corrupt header"},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, twelve),
			`tensors "a" and "b" overlap`},
		{"out of range", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, twelve),
			`tensor "b": data offsets [8, 16) reach past the 12 bytes`},
		{"backwards", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,8]}}`, twelve),
			`tensor "b": data offsets [12, 8) run backwards`},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32bytes(0, 1)), `4 unused bytes before tensor "a"`},
		{"shape does not fill", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, twelve),
			`tensor "a": shape [3] of F32 does not fill its 8 bytes`},
		{"trailing bytes", append(slices.Clone(valid), 0, 0, 0, 0), "the tensors end at byte 12 of 16 bytes of data"},
		{"unknown dtype", rawFile(`{"a":{"dtype":"Q7","shape":[3],"data_offsets":[0,12]}}`, twelve), "Q7"},
		{"dtype F16", rawFile(`{"a":{"dtype":"F16","shape":[6],"data_offsets":[0,12]}}`, twelve), `tensor "a" has dtype F16; sslens reads F32 only`},
	} {
		path := filepath.Join(t.TempDir(), "bad.safetensors")
		if err := os.WriteFile(path, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadTensors(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadRefusesBrokenPairs(t *testing.T) {
	ts := ParamTensors(toyParams(t, "toy", 8, 2, 1))
	for _, tc := range []struct {
		name  string
		spoil func(path string) error
		want  string
	}{
		{"weights rewritten after the sidecar", func(path string) error {
			other := ParamTensors(toyParams(t, "toy", 8, 2, 2))
			_, err := writeTensors(path, other, nil)
			return err
		}, "does not match its sidecar"},
		{"no sidecar", func(path string) error { return os.Remove(SidecarPath(path)) }, "no such file"},
		{"sidecar without format", func(path string) error {
			return os.WriteFile(SidecarPath(path), []byte(`{"preset":"toy"}`), 0o644)
		}, "no format field"},
		{"newer sidecar", func(path string) error {
			return os.WriteFile(SidecarPath(path), []byte(`{"format":2}`), 0o644)
		}, "format 2 is newer"},
		{"corrupt sidecar", func(path string) error {
			return os.WriteFile(SidecarPath(path), []byte(`{"format":`), 0o644)
		}, "corrupt sidecar"},
		{"truncated weights", func(path string) error {
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(path, raw[:len(raw)-100], 0o644)
		}, "truncated file?"},
	} {
		path := filepath.Join(t.TempDir(), "model.safetensors")
		if err := Save(path, ts, testSidecar()); err != nil {
			t.Fatal(err)
		}
		if err := tc.spoil(path); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadIntoRefusesMismatch(t *testing.T) {
	for _, tc := range []struct {
		name        string
		saved, into *vit.Params
		want        []string
	}{
		{"missing head", toyParams(t, "toy", 8, 0, 1), toyParams(t, "toy", 8, 2, 2),
			[]string{`missing tensor "head.weight" (2, 8)`, `missing tensor "head.bias" (2,)`}},
		{"extra head", toyParams(t, "toy", 8, 2, 1), toyParams(t, "toy", 8, 0, 2),
			[]string{`unexpected tensor "head.weight" (2, 8)`}},
		{"other width", toyParams(t, "toy", 8, 0, 1), toyParams(t, "toy", 12, 0, 2),
			[]string{`does not fit toy`, `tensor "cls_token" has shape (1, 1, 8), the model wants (1, 1, 12)`, "and 26 more"}},
		{"other preset", toyParams(t, "toy", 8, 0, 1), toyParams(t, "toy2", 8, 0, 2),
			[]string{"holds a toy, the model is a toy2"}},
	} {
		path := filepath.Join(t.TempDir(), "model.safetensors")
		sc := testSidecar()
		sc.Preset = tc.saved.Preset.Name
		if err := Save(path, ParamTensors(tc.saved), sc); err != nil {
			t.Fatal(err)
		}
		before := tc.into.Clone()
		_, err := LoadInto(path, tc.into)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
		for _, p := range before.List() {
			if !slices.Equal(tc.into.Get(p.Name).Data, p.Data) {
				t.Errorf("%s: refused load changed %s", tc.name, p.Name)
			}
		}
	}
}

func TestSaveRefusesAndKeepsOldFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	good := ParamTensors(toyParams(t, "toy", 8, 2, 1))
	if err := Save(path, good, testSidecar()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	nan := testSidecar()
	nan.Metrics["loss"] = math.NaN()
	for _, tc := range []struct {
		name    string
		tensors []Tensor
		sc      Sidecar
		want    string
	}{
		{"short data", []Tensor{{Name: "a", Shape: []int{2, 3}, Data: make([]float32, 5)}}, testSidecar(), `"a": shape (2, 3) holds 6 values, data has 5`},
		{"repeated name", []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{2}}}, testSidecar(), `"a" given twice`},
		{"empty name", []Tensor{{Shape: []int{1}, Data: []float32{1}}}, testSidecar(), "empty name"},
		{"NaN metric", good, nan, `metric "loss" is NaN`},
	} {
		err := Save(path, tc.tensors, tc.sc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a refused Save changed the existing weights")
	}
	if _, _, err := Load(path); err != nil {
		t.Errorf("the old checkpoint no longer loads: %v", err)
	}
	assertOnlyFiles(t, dir, "model.json", "model.safetensors")
}

func TestAssignFromReadTensors(t *testing.T) {
	// A bare safetensors file (no sidecar), as exported from PyTorch.
	src := toyParams(t, "toy", 8, 2, 1)
	path := filepath.Join(t.TempDir(), "torch.safetensors")
	if _, err := writeTensors(path, ParamTensors(src), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	ts, err := ReadTensors(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := toyParams(t, "toy", 8, 2, 5)
	if err := Assign(dst, ts); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst.Get("blocks.1.mlp.fc1.weight").Data, src.Get("blocks.1.mlp.fc1.weight").Data) {
		t.Error("Assign did not copy the weights")
	}
	if err := Assign(toyParams(t, "toy", 8, 0, 5), ts); err == nil || !strings.HasPrefix(err.Error(), "ckpt: does not fit toy") {
		t.Errorf("Assign with extra tensors: error %v", err)
	}
}
