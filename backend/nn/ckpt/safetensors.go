// Package ckpt stores model weights and training state as safetensors files
// with JSON sidecars.
//
// A model checkpoint is two files: NAME.safetensors, float32 tensors under
// timm's parameter names and PyTorch's shapes (row-major, little-endian),
// which safetensors.torch.load_file reads into a state dict for timm's
// VisionTransformer; and NAME.json, the sidecar: preset, config, epoch,
// metrics, the data normalisation and the SHA-256 of the weights file, which
// ties the pair together. Training state (optimiser moments, step counts,
// RNG state) is a second pair, state.safetensors and state.json, in a run's
// folder. Every file is written atomically (backend/atomicfile: a temporary
// file in the same folder, fsync, rename), so a crash leaves the old file or
// the new one, and
// a checkpoint whose files are truncated, corrupt, mismatched or not written
// together is refused with a message naming the file and the tensor.
package ckpt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sort"

	"github.com/nlpodyssey/safetensors"
	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Tensor is a named float32 tensor, row-major with PyTorch's shape.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// checkTensors refuses empty or repeated names and data that does not fill
// its shape.
func checkTensors(ts []Tensor) error {
	seen := make(map[string]bool, len(ts))
	for _, t := range ts {
		if t.Name == "" {
			return fmt.Errorf("tensor with an empty name")
		}
		if seen[t.Name] {
			return fmt.Errorf("tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, s := range t.Shape {
			if s < 0 {
				return fmt.Errorf("tensor %q: negative size in shape %s", t.Name, vit.FormatShape(t.Shape))
			}
			n *= s
		}
		if n != len(t.Data) {
			return fmt.Errorf("tensor %q: shape %s holds %d values, data has %d", t.Name, vit.FormatShape(t.Shape), n, len(t.Data))
		}
	}
	return nil
}

// f32View serialises one tensor for the safetensors writer, encoding its
// bytes only when the writer asks for them.
type f32View struct {
	shape []uint64
	data  []float32
}

func (v f32View) DType() safetensors.DType { return safetensors.F32 }
func (v f32View) Shape() []uint64          { return v.shape }
func (v f32View) DataLen() uint64          { return 4 * uint64(len(v.data)) }
func (v f32View) Data() []byte {
	b := make([]byte, 4*len(v.data))
	for i, x := range v.data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// writeTensors writes ts to path as a safetensors file, atomically, with the
// given __metadata__ strings, and returns the file's SHA-256 in hex.
func writeTensors(path string, ts []Tensor, meta map[string]string) (string, error) {
	if err := checkTensors(ts); err != nil {
		return "", fmt.Errorf("ckpt: %s: %w", path, err)
	}
	views := make(map[string]f32View, len(ts))
	for _, t := range ts {
		shape := make([]uint64, len(t.Shape))
		for i, s := range t.Shape {
			shape[i] = uint64(s)
		}
		views[t.Name] = f32View{shape: shape, data: t.Data}
	}
	h := sha256.New()
	err := atomicfile.Write(path, func(w io.Writer) error {
		return safetensors.SerializeToWriter(views, meta, io.MultiWriter(w, h))
	})
	if err != nil {
		return "", fmt.Errorf("ckpt: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ReadTensors reads every tensor of a safetensors file, in file order. Only
// F32 tensors are accepted.
func ReadTensors(path string) ([]Tensor, error) {
	ts, _, err := readTensors(path)
	return ts, err
}

// readTensors reads a safetensors file and returns its tensors and the
// file's SHA-256 in hex.
func readTensors(path string) ([]Tensor, string, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("ckpt: %w", err)
	}
	ts, err := decode(buf)
	if err != nil {
		return nil, "", fmt.Errorf("ckpt: %s: %w", path, err)
	}
	sum := sha256.Sum256(buf)
	return ts, hex.EncodeToString(sum[:]), nil
}

// decode parses a whole safetensors file with the safetensors library; when
// the library refuses it, diagnose says why in terms of tensors and bytes.
func decode(buf []byte) ([]Tensor, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("truncated: %d bytes, shorter than the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > uint64(len(buf)-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes that follow it (truncated, or not a safetensors file)", n, len(buf)-8)
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		if d := diagnose(buf[8:8+n], uint64(len(buf))-8-n); d != nil {
			return nil, d
		}
		return nil, fmt.Errorf("corrupt safetensors file: %w", err)
	}
	views := st.Tensors()
	out := make([]Tensor, len(views))
	for i, v := range views {
		if v.TensorView.DType() != safetensors.F32 {
			return nil, fmt.Errorf("tensor %q has dtype %s; sslens reads F32 only", v.Name, v.TensorView.DType())
		}
		shape := make([]int, len(v.TensorView.Shape()))
		for j, s := range v.TensorView.Shape() {
			shape[j] = int(s)
		}
		raw := v.TensorView.Data()
		data := make([]float32, len(raw)/4)
		for j := range data {
			data[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		out[i] = Tensor{Name: v.Name, Shape: shape, Data: data}
	}
	return out, nil
}

// diagnose explains why a header does not describe dataLen bytes of
// tensors laid end to end, as the format requires, or returns nil.
func diagnose(header []byte, dataLen uint64) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return fmt.Errorf("corrupt header: %v", err)
	}
	type entry struct {
		name    string
		DType   string    `json:"dtype"`
		Shape   []uint64  `json:"shape"`
		Offsets [2]uint64 `json:"data_offsets"`
	}
	var entries []entry
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		e := entry{name: name}
		if err := json.Unmarshal(msg, &e); err != nil {
			return fmt.Errorf("corrupt header entry for tensor %q: %v", name, err)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		return a.Offsets[0] < b.Offsets[0] || a.Offsets[0] == b.Offsets[0] && a.name < b.name
	})
	end, prev := uint64(0), ""
	for _, e := range entries {
		lo, hi := e.Offsets[0], e.Offsets[1]
		switch {
		case hi < lo:
			return fmt.Errorf("tensor %q: data offsets [%d, %d) run backwards", e.name, lo, hi)
		case hi > dataLen:
			return fmt.Errorf("tensor %q: data offsets [%d, %d) reach past the %d bytes of data (truncated file?)", e.name, lo, hi, dataLen)
		case lo < end:
			return fmt.Errorf("tensors %q and %q overlap: [%d, %d) starts before %d", prev, e.name, lo, hi, end)
		case lo > end:
			return fmt.Errorf("%d unused bytes before tensor %q at offset %d", lo-end, e.name, lo)
		}
		dt, err := safetensors.ParseDType(e.DType)
		if err != nil {
			return fmt.Errorf("tensor %q: unknown dtype %q", e.name, e.DType)
		}
		size, ok := dt.Size(), true
		for _, s := range e.Shape {
			var over uint64
			over, size = bits.Mul64(size, s)
			ok = ok && over == 0
		}
		if !ok || size != hi-lo {
			return fmt.Errorf("tensor %q: shape %v of %s does not fill its %d bytes at [%d, %d)", e.name, e.Shape, e.DType, hi-lo, lo, hi)
		}
		end, prev = hi, e.name
	}
	if end != dataLen {
		return fmt.Errorf("the tensors end at byte %d of %d bytes of data (trailing bytes)", end, dataLen)
	}
	return nil
}
