package data

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	py "github.com/nlpodyssey/gopickle/types"
	"github.com/sbinet/npyio/npy"
)

// unpickle loads a pickle that may hold numpy arrays and scalars of file
// names, as the seed's indices.pkl and train_indices_N.pkl do.
func unpickle(r io.Reader) (v any, err error) {
	// gopickle panics on some malformed streams (e.g. Dict.MustGet).
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("malformed pickle: %v", p)
		}
	}()
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	return u.Load()
}

// findClass resolves the Python globals the seed's pickles reference. numpy 2
// renamed numpy.core to numpy._core; npyio knows only the old spelling.
func findClass(module, name string) (any, error) {
	module = strings.Replace(module, "numpy._core", "numpy.core", 1)
	switch module + "." + name {
	case "numpy.core.multiarray.scalar":
		return numpyScalar{}, nil
	case "_codecs.encode":
		return codecsEncode{}, nil
	}
	return npy.ClassLoader(module, name)
}

// numpyScalar is numpy.core.multiarray.scalar(dtype, raw): a numpy scalar is
// a 0-d array, so npyio's ndarray state decoding reads it.
type numpyScalar struct{}

func (numpyScalar) Call(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("numpy scalar: want (dtype, bytes), got %d arguments", len(args))
	}
	descr, ok := args[0].(*npy.ArrayDescr)
	if !ok {
		return nil, fmt.Errorf("numpy scalar: dtype is %T", args[0])
	}
	raw, ok := args[1].([]byte)
	if !ok {
		return nil, fmt.Errorf("numpy scalar: data is %T, want bytes", args[1])
	}
	var arr npy.Array
	state := py.Tuple{1, &py.Tuple{}, descr, false, raw}
	if err := arr.PySetState(&state); err != nil {
		return nil, fmt.Errorf("numpy scalar: %w", err)
	}
	return arr.Data(), nil
}

// codecsEncode is _codecs.encode(str, 'latin1'), which protocol-2 pickles
// written by Python 3 use for bytes.
type codecsEncode struct{}

func (codecsEncode) Call(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("_codecs.encode: want 2 arguments, got %d", len(args))
	}
	s, ok1 := args[0].(string)
	enc, ok2 := args[1].(string)
	if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
		return nil, fmt.Errorf("_codecs.encode: unsupported arguments %v", args)
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("_codecs.encode: %q is not latin1", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

// dictOf returns the entries of a pickled or JSON dict by string key.
func dictOf(v any, what string) (map[string]any, error) {
	switch d := v.(type) {
	case map[string]any:
		return d, nil
	case *py.Dict:
		m := make(map[string]any, d.Len())
		for _, e := range *d {
			k, ok := e.Key.(string)
			if !ok {
				return nil, fmt.Errorf("%s: key %v is %T, want str", what, e.Key, e.Key)
			}
			m[k] = e.Value
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s: want a dict, got %T", what, v)
}

// namesOf converts a list of str (pickled, numpy str scalars, or JSON) or a
// numpy str array to bare file names. numpy pads fixed-width strings with
// NULs, which are dropped.
func namesOf(v any, what string) ([]string, error) {
	var items []any
	switch v := v.(type) {
	case []any:
		items = v
	case *py.List:
		items = *v
	case *py.Tuple:
		items = *v
	case *npy.Array:
		s, ok := v.Data().([]string)
		if !ok {
			return nil, fmt.Errorf("%s: numpy array of %T, want str", what, v.Data())
		}
		items = make([]any, len(s))
		for i, x := range s {
			items[i] = x
		}
	default:
		return nil, fmt.Errorf("%s: want a list or numpy array of names, got %T", what, v)
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: want str, got %T", what, i, it)
		}
		s = strings.TrimRight(s, "\x00")
		// A name with a separator could point outside the class folders.
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
			return nil, fmt.Errorf("%s[%d]: %q is not a bare file name", what, i, s)
		}
		out[i] = s
	}
	return out, nil
}

// classFilesOf converts {lenses: names, nonlenses: names}, with an
// optional unlabelled: names.
func classFilesOf(v any, what string) (ClassFiles, error) {
	m, err := dictOf(v, what)
	if err != nil {
		return ClassFiles{}, err
	}
	want := 2
	if _, ok := m[ClassDirs[Unlabelled]]; ok {
		want = 3
	}
	if len(m) != want {
		return ClassFiles{}, fmt.Errorf("%s: want keys lenses and nonlenses (and unlabelled), have %s", what, strings.Join(sortedKeys(m), ", "))
	}
	var cf ClassFiles
	for _, l := range Labels {
		key := ClassDirs[l]
		x, ok := m[key]
		if !ok {
			if l == Unlabelled {
				continue
			}
			return ClassFiles{}, fmt.Errorf("%s: want keys lenses and nonlenses (and unlabelled), have %s", what, strings.Join(sortedKeys(m), ", "))
		}
		names, err := namesOf(x, what+"."+key)
		if err != nil {
			return ClassFiles{}, err
		}
		cf.Set(l, names)
	}
	return cf, nil
}

// sortedKeys returns the keys of m in order, for error messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
