package ops

import "testing"

// A fallback below the CPU's vector units is replaced by the best kernel
// set it can run; a vector set OpenBLAS chose, and gonum, are left alone.
func TestBetterCore(t *testing.T) {
	for _, tc := range []struct {
		core         string
		avx512, avx2 bool
		want         string
	}{
		{"Prescott", true, true, "SkylakeX"},
		{"Sandybridge", true, true, "SkylakeX"},
		{"Prescott", false, true, "Haswell"},
		{"Nehalem", false, true, "Haswell"},
		{"Prescott", false, false, ""},
		{"SkylakeX", true, true, ""},
		{"Cooperlake", true, true, ""},
		{"Haswell", true, true, ""},
		{"Zen", false, true, ""},
		{"", true, true, ""},
	} {
		if got := betterCore(tc.core, tc.avx512, tc.avx2); got != tc.want {
			t.Errorf("%q with AVX-512 %v, AVX2 %v: %q, want %q", tc.core, tc.avx512, tc.avx2, got, tc.want)
		}
	}
}
