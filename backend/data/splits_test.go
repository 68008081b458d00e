package data

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestReadSeedSplits(t *testing.T) {
	s, err := ReadSplits("testdata/seed/indices.pkl")
	if err != nil {
		t.Fatal(err)
	}
	want := map[SplitName][2]int{Train: {2333, 1530}, Val: {259, 170}, Test: {458, 300}}
	for _, name := range SplitNames {
		cf := s.Split(name)
		if got := [2]int{len(cf.Lenses), len(cf.NonLenses)}; got != want[name] {
			t.Errorf("%s: %v lenses/nonlenses, want %v", name, got, want[name])
		}
	}
	if got := s.Train.Lenses[:3]; !slices.Equal(got, []string{"6753.npy", "1111187.npy", "8934.npy"}) {
		t.Errorf("first train lenses %q", got)
	}
	if got := s.Train.NonLenses[:3]; !slices.Equal(got, []string{"8872.npy", "5697.npy", "324.npy"}) {
		t.Errorf("first train nonlenses %q", got)
	}
	for _, cf := range []ClassFiles{s.Train, s.Val, s.Test} {
		for _, n := range append(slices.Clone(cf.Lenses), cf.NonLenses...) {
			if !strings.HasSuffix(n, ".npy") || strings.ContainsRune(n, 0) {
				t.Fatalf("name %q: want NUL-free *.npy", n)
			}
		}
	}
}

func TestReadSeedSubsets(t *testing.T) {
	first := map[int]string{300: "12214.npy", 600: "2994.npy", 1200: "2687.npy"}
	for n, name := range first {
		cf, err := ReadSubset(fmt.Sprintf("testdata/seed/train_indices_%d.pkl", n))
		if err != nil {
			t.Fatal(err)
		}
		if len(cf.Lenses) != n/2 || len(cf.NonLenses) != n/2 {
			t.Errorf("%d: %d lenses, %d nonlenses; want %d each", n, len(cf.Lenses), len(cf.NonLenses), n/2)
		}
		if cf.Lenses[0] != name {
			t.Errorf("%d: first lens %q, want %q (U11 padding must be gone)", n, cf.Lenses[0], name)
		}
	}
}

// TestReadNumpy2Pickles reads pickles shaped as numpy 2 writes them
// (numpy._core, protocols 2 and 4; see testdata/numpy2/gen.py).
func TestReadNumpy2Pickles(t *testing.T) {
	wantSplits := Splits{
		Train: ClassFiles{Lenses: []string{"10.npy", "11.npy", "12.npy", "13.npy", "14.npy", "15.npy"}, NonLenses: []string{"20.npy", "21.npy", "22.npy", "23.npy"}},
		Val:   ClassFiles{Lenses: []string{"30.npy", "31.npy"}, NonLenses: []string{"40.npy", "4001.npy"}},
		Test:  ClassFiles{Lenses: []string{"50.npy", "51.npy"}, NonLenses: []string{"60.npy", "61.npy"}},
	}
	wantSubset := ClassFiles{Lenses: []string{"10.npy", "11.npy", "1001.npy"}, NonLenses: []string{"20.npy", "21.npy", "2002.npy"}}
	for _, proto := range []int{2, 4} {
		s, err := ReadSplits(fmt.Sprintf("testdata/numpy2/indices_p%d.pkl", proto))
		if err != nil {
			t.Fatalf("protocol %d: %v", proto, err)
		}
		if !reflect.DeepEqual(s, wantSplits) {
			t.Errorf("protocol %d splits = %+v", proto, s)
		}
		cf, err := ReadSubset(fmt.Sprintf("testdata/numpy2/subset_p%d.pkl", proto))
		if err != nil {
			t.Fatalf("protocol %d: %v", proto, err)
		}
		if !reflect.DeepEqual(cf, wantSubset) {
			t.Errorf("protocol %d subset = %+v", proto, cf)
		}
	}
}

func TestSplitsRoundTrip(t *testing.T) {
	s := Splits{
		Train: ClassFiles{Lenses: []string{"a.npy", "b.npy"}, NonLenses: []string{"c.npy"}, Unlabelled: []string{"u.npy", "v.npy"}},
		Val:   ClassFiles{Lenses: []string{"d.npy"}, NonLenses: []string{}},
		Test:  ClassFiles{Lenses: []string{}, NonLenses: []string{"é.fits"}},
	}
	dir := t.TempDir()
	for name, write := range map[string]func(string, Splits) error{"s.pkl": WriteSplitsPickle, "s.json": WriteSplitsJSON} {
		path := filepath.Join(dir, name)
		if err := write(path, s); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSplits(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("%s: read %+v, want %+v", name, got, s)
		}
	}
	sub := ClassFiles{Lenses: []string{"a.npy"}, NonLenses: []string{"c.npy", "x.npy"}}
	for name, write := range map[string]func(string, ClassFiles) error{"t.pkl": WriteSubsetPickle, "t.json": WriteSubsetJSON} {
		path := filepath.Join(dir, name)
		if err := write(path, sub); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSubset(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, sub) {
			t.Errorf("%s: read %+v, want %+v", name, got, sub)
		}
	}
}

func TestReadSplitsBad(t *testing.T) {
	seed := readTestFile(t, "testdata/seed/indices.pkl")
	cases := []struct {
		name, content, msg string
		subset             bool
	}{
		{"missing split", `{"train": {"lenses": [], "nonlenses": []}, "val": {"lenses": [], "nonlenses": []}}`, "want keys train, val and test", false},
		{"extra split", `{"train": {"lenses": [], "nonlenses": []}, "val": {"lenses": [], "nonlenses": []}, "test": {"lenses": [], "nonlenses": []}, "tset": {}}`, "want keys train, val and test", false},
		{"typo class", `{"lenses": ["a.npy"], "nonlense": []}`, "want keys lenses and nonlenses (and unlabelled), have lenses, nonlense", true},
		{"not a list", `{"lenses": "a.npy", "nonlenses": []}`, "top level.lenses: want a list", true},
		{"number", `{"lenses": ["a.npy", 7], "nonlenses": []}`, "top level.lenses[1]: want str, got float64", true},
		{"path", `{"lenses": ["../../etc/passwd"], "nonlenses": []}`, `"../../etc/passwd" is not a bare file name`, true},
		{"empty name", `{"lenses": [""], "nonlenses": []}`, `"" is not a bare file name`, true},
		{"bad JSON", `{"lenses": [`, "JSON", true},
		{"garbage", "hello", "not a pickle or JSON file", true},
		{"truncated pickle", string(seed[:5000]), "not a pickle or JSON file", false},
		{"splits as subset", string(seed), "want keys lenses and nonlenses", true},
	}
	dir := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		writeFile(t, path, []byte(c.content))
		var err error
		if c.subset {
			_, err = ReadSubset(path)
		} else {
			_, err = ReadSplits(path)
		}
		if err == nil || !strings.HasPrefix(err.Error(), "data: "+path+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want the path and %q", c.name, err, c.msg)
		}
	}
}

func TestSplitsFile(t *testing.T) {
	dir := t.TempDir()
	if got := SplitsFile(dir); got != "" {
		t.Errorf("empty dir: %q", got)
	}
	writeFile(t, filepath.Join(dir, "indices.pkl"), nil)
	if got := SplitsFile(dir); got != filepath.Join(dir, "indices.pkl") {
		t.Errorf("with indices.pkl: %q", got)
	}
	writeFile(t, filepath.Join(dir, "splits.json"), nil)
	if got := SplitsFile(dir); got != filepath.Join(dir, "splits.json") {
		t.Errorf("with both: %q, want splits.json first", got)
	}
}

// Empty classes are written as [] and read back, in splits and subsets.
func TestJSONWritersRoundTripEmptyClasses(t *testing.T) {
	dir := t.TempDir()
	s := Splits{Train: ClassFiles{Lenses: []string{"1.npy"}}}
	p := filepath.Join(dir, "splits.json")
	if err := WriteSplitsJSON(p, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSplits(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Train.Len() != 1 || got.Val.Len() != 0 || got.Test.Len() != 0 {
		t.Errorf("read back %+v", got)
	}
	p = filepath.Join(dir, "subset.json")
	if err := WriteSubsetJSON(p, ClassFiles{NonLenses: []string{"2.npy"}}); err != nil {
		t.Fatal(err)
	}
	if cf, err := ReadSubset(p); err != nil || len(cf.NonLenses) != 1 || len(cf.Lenses) != 0 {
		t.Errorf("subset read back %+v, %v", cf, err)
	}
}
