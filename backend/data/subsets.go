package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// DrawSubsets draws labelled subsets of the given total sizes from the train
// split: each is balanced (size/2 lenses and size/2 non-lenses), the subsets
// are nested (every smaller one lies inside every larger one), and the draw
// depends only on seed and the set of train names, not on their order. Since
// only train names are drawn, no subset can leak into val or test.
func DrawSubsets(train ClassFiles, sizes []int, seed uint64) ([]ClassFiles, error) {
	most := 0
	for _, n := range sizes {
		if n <= 0 || n%2 != 0 {
			return nil, fmt.Errorf("data: subset size %d: want a positive even number (half lenses, half non-lenses)", n)
		}
		most = max(most, n/2)
	}
	var perm [2][]string
	for i, l := range []Label{Lens, NonLens} {
		names := slices.Clone(train.Files(l))
		slices.Sort(names)
		if j := dupIndex(names); j >= 0 {
			return nil, fmt.Errorf("data: train split lists %s/%s twice", ClassDirs[l], names[j])
		}
		if most > len(names) {
			return nil, fmt.Errorf("data: subset size %d needs %d %s, the train split has %d", 2*most, most, ClassDirs[l], len(names))
		}
		// One stream per class, so adding non-lenses never reshuffles lenses.
		shuffle(names, rand.NewPCG(seed, uint64(l)))
		perm[i] = names
	}
	out := make([]ClassFiles, len(sizes))
	for k, n := range sizes {
		out[k] = ClassFiles{Lenses: slices.Clone(perm[0][:n/2]), NonLenses: slices.Clone(perm[1][:n/2])}
	}
	return out, nil
}

// dupIndex returns the index of a repeated name in sorted names, or -1.
func dupIndex(sorted []string) int {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return i
		}
	}
	return -1
}

// shuffle is a Fisher-Yates shuffle over src written out here, rather than
// rand.Shuffle, so a seed draws the same subsets whatever Go release built
// the binary: only the PCG output itself is specified.
func shuffle(s []string, src rand.Source) {
	for i := len(s) - 1; i > 0; i-- {
		j := uniform(src, uint64(i+1))
		s[i], s[j] = s[j], s[i]
	}
}

// uniform returns an unbiased draw from [0, n) by rejection.
func uniform(src rand.Source, n uint64) uint64 {
	limit := -n % n // 2^64 mod n: values below it would bias the modulo
	for {
		if v := src.Uint64(); v >= limit {
			return v % n
		}
	}
}
