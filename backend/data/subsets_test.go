package data

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestDrawSubsetsSeed(t *testing.T) {
	s, err := ReadSplits("testdata/seed/indices.pkl")
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{1200, 300, 600} // any order
	subs, err := DrawSubsets(s.Train, sizes, 42)
	if err != nil {
		t.Fatal(err)
	}
	member := func(cf ClassFiles) map[string]bool {
		m := map[string]bool{}
		for _, l := range []Label{Lens, NonLens} {
			for _, n := range cf.Files(l) {
				m[relName(l, n)] = true
			}
		}
		return m
	}
	train, val, test := member(s.Train), member(s.Val), member(s.Test)
	for k, sub := range subs {
		if len(sub.Lenses) != sizes[k]/2 || len(sub.NonLenses) != sizes[k]/2 {
			t.Errorf("size %d: %d lenses, %d nonlenses", sizes[k], len(sub.Lenses), len(sub.NonLenses))
		}
		m := member(sub)
		if len(m) != sizes[k] {
			t.Errorf("size %d: %d distinct files", sizes[k], len(m))
		}
		for f := range m {
			if !train[f] || val[f] || test[f] {
				t.Fatalf("size %d: %s in train %v, val %v, test %v", sizes[k], f, train[f], val[f], test[f])
			}
		}
	}
	// Nested: 300 within 600 within 1200.
	m300, m600, m1200 := member(subs[1]), member(subs[2]), member(subs[0])
	for f := range m300 {
		if !m600[f] {
			t.Fatalf("%s in the 300 subset but not in the 600", f)
		}
	}
	for f := range m600 {
		if !m1200[f] {
			t.Fatalf("%s in the 600 subset but not in the 1200", f)
		}
	}

	// Deterministic, and independent of the order of the train list.
	shuffled := ClassFiles{Lenses: slices.Clone(s.Train.Lenses), NonLenses: slices.Clone(s.Train.NonLenses)}
	slices.Reverse(shuffled.Lenses)
	slices.Reverse(shuffled.NonLenses)
	again, err := DrawSubsets(shuffled, sizes, 42)
	if err != nil || !reflect.DeepEqual(again, subs) {
		t.Errorf("same seed, reversed train list: different subsets (err %v)", err)
	}
	other, err := DrawSubsets(s.Train, sizes, 43)
	if err != nil || reflect.DeepEqual(other[1], subs[1]) {
		t.Errorf("seed 43 drew the same 300 subset as seed 42 (err %v)", err)
	}
}

func TestDrawSubsetsErrors(t *testing.T) {
	train := ClassFiles{Lenses: []string{"a", "b", "c"}, NonLenses: []string{"d", "e"}}
	cases := []struct {
		sizes []int
		train ClassFiles
		msg   string
	}{
		{[]int{2, 6}, train, "subset size 6 needs 3 nonlenses, the train split has 2"},
		{[]int{3}, train, "size 3: want a positive even number"},
		{[]int{0}, train, "size 0: want a positive even number"},
		{[]int{2}, ClassFiles{Lenses: []string{"a", "b", "a"}, NonLenses: []string{"d"}}, "train split lists lenses/a twice"},
	}
	for _, c := range cases {
		_, err := DrawSubsets(c.train, c.sizes, 1)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("sizes %v: err = %v, want %q", c.sizes, err, c.msg)
		}
	}
	if subs, err := DrawSubsets(train, []int{4}, 1); err != nil || len(subs[0].Lenses) != 2 {
		t.Errorf("largest size that fits: %v, %v", subs, err)
	}
}

// TestUniform checks the rejection draw is in range and roughly uniform.
func TestUniform(t *testing.T) {
	src := rand.NewPCG(7, 0)
	var counts [3]int
	for range 30000 {
		counts[uniform(src, 3)]++
	}
	for i, c := range counts {
		if c < 9500 || c > 10500 {
			t.Errorf("value %d drawn %d times of 30000", i, c)
		}
	}
}
