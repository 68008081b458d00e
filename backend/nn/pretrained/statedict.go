package pretrained

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"

	"github.com/sslens/sslens/backend/nn/ckpt"
)

// entry is one tensor of a state dict, converted to float32 only when
// taken.
type entry struct {
	name  string
	shape []int
	read  func() ([]float32, error)
}

// stateDict is a state dict found in a source file: where it was (a key of
// the top-level dict, or "" for the top level) and its tensors in file
// order.
type stateDict struct {
	where   string
	entries []entry
}

func (sd stateDict) get(name string) (entry, bool) {
	for _, e := range sd.entries {
		if e.name == name {
			return e, true
		}
	}
	return entry{}, false
}

// stateDictKeys are the keys checkpoints keep a model's state dict under,
// in the order they are tried: DINO's and iBOT's teacher and student,
// timm's and iBOT's released "state_dict" and "model".
var stateDictKeys = []string{"teacher", "student", "state_dict", "model"}

// fromSafetensors is the one state dict of a safetensors file.
func fromSafetensors(ts []ckpt.Tensor) stateDict {
	sd := stateDict{entries: make([]entry, len(ts))}
	for i, t := range ts {
		sd.entries[i] = entry{name: t.Name, shape: t.Shape, read: func() ([]float32, error) { return t.Data, nil }}
	}
	return sd
}

// findStateDict picks the state dict of a torch.save object: the top level
// when it holds tensors, else the value of the first of stateDictKeys
// present, with from ("teacher" or "student") choosing between DINO's two.
func findStateDict(obj any, from string) (stateDict, error) {
	top, ok := dictEntries(obj)
	if !ok {
		return stateDict{}, fmt.Errorf("the checkpoint holds a %s, not a dict", pyType(obj))
	}
	if sd, err := toStateDict("", top); err == nil && len(sd.entries) > 0 {
		if from != "" {
			return stateDict{}, fmt.Errorf("from %s: the checkpoint holds one state dict, not a teacher and a student", from)
		}
		return sd, nil
	}
	var keys []string
	byKey := make(map[string]any)
	for _, kv := range top {
		if k, ok := kv.key.(string); ok {
			keys = append(keys, k)
			byKey[k] = kv.value
		}
	}
	order := stateDictKeys
	if from != "" {
		if _, ok := byKey[from]; !ok {
			return stateDict{}, fmt.Errorf("no %q state dict; the checkpoint's keys are %s", from, strings.Join(keys, ", "))
		}
		order = []string{from}
	}
	for _, k := range order {
		v, ok := byKey[k]
		if !ok {
			continue
		}
		d, ok := dictEntries(v)
		if !ok {
			return stateDict{}, fmt.Errorf("%q holds a %s, not a state dict", k, pyType(v))
		}
		return toStateDict(k, d)
	}
	return stateDict{}, fmt.Errorf("no state dict: the checkpoint's keys are %s, want tensors or one of %s",
		strings.Join(keys, ", "), strings.Join(stateDictKeys, ", "))
}

type keyValue struct{ key, value any }

// dictEntries lists a dict's or OrderedDict's items in order.
func dictEntries(obj any) ([]keyValue, bool) {
	var out []keyValue
	switch d := obj.(type) {
	case *types.Dict:
		for _, e := range *d {
			out = append(out, keyValue{e.Key, e.Value})
		}
	case *types.OrderedDict:
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			out = append(out, keyValue{e.Key, e.Value})
		}
	default:
		return nil, false
	}
	return out, true
}

// toStateDict converts a dict of tensors; a value of another kind is an
// error naming its key.
func toStateDict(where string, items []keyValue) (stateDict, error) {
	sd := stateDict{where: where}
	for _, kv := range items {
		name, ok := kv.key.(string)
		if !ok {
			return stateDict{}, fmt.Errorf("key %v is not a string", kv.key)
		}
		t, ok := kv.value.(*pytorch.Tensor)
		if !ok {
			return stateDict{}, fmt.Errorf("%q holds a %s, not a tensor", name, pyType(kv.value))
		}
		sd.entries = append(sd.entries, entry{name: name, shape: slices.Clone(t.Size),
			read: func() ([]float32, error) { return float32s(t) }})
	}
	return sd, nil
}

// pyType names a value's Python type for errors.
func pyType(v any) string {
	switch v.(type) {
	case *types.Dict, *types.OrderedDict:
		return "dict"
	case *types.List:
		return "list"
	case *types.Tuple:
		return "tuple"
	case *pytorch.Tensor:
		return "tensor"
	case nil:
		return "None"
	}
	return fmt.Sprintf("%T", v)
}

// float32s gathers a tensor's values in row-major order of its size, by
// its strides and storage offset, as float32.
func float32s(t *pytorch.Tensor) ([]float32, error) {
	var at func(i int) float32
	var n int
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		at, n = func(i int) float32 { return s.Data[i] }, len(s.Data)
	case *pytorch.HalfStorage:
		at, n = func(i int) float32 { return s.Data[i] }, len(s.Data)
	case *pytorch.BFloat16Storage:
		at, n = func(i int) float32 { return s.Data[i] }, len(s.Data)
	case *pytorch.DoubleStorage:
		at, n = func(i int) float32 { return float32(s.Data[i]) }, len(s.Data)
	default:
		return nil, fmt.Errorf("a tensor of %T; want floating point", t.Source)
	}
	if len(t.Stride) != len(t.Size) {
		return nil, fmt.Errorf("tensor of size %v has %d strides", t.Size, len(t.Stride))
	}
	count, last := 1, t.StorageOffset
	for i, s := range t.Size {
		if s < 0 || t.Stride[i] < 0 {
			return nil, fmt.Errorf("tensor of size %v, strides %v: negative", t.Size, t.Stride)
		}
		count *= s
		if s > 0 {
			last += (s - 1) * t.Stride[i]
		}
	}
	if count > 0 && (t.StorageOffset < 0 || last >= n) {
		return nil, fmt.Errorf("tensor of size %v, strides %v, offset %d reaches past its storage of %d", t.Size, t.Stride, t.StorageOffset, n)
	}
	out := make([]float32, count)
	idx := make([]int, len(t.Size))
	for k := range out {
		off := t.StorageOffset
		for d, i := range idx {
			off += i * t.Stride[d]
		}
		out[k] = at(off)
		for d := len(idx) - 1; d >= 0; d-- { // next index, row-major
			if idx[d]++; idx[d] < t.Size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}
