package ops

import (
	"slices"

	"golang.org/x/sys/cpu"
)

// avx2Cores are OpenBLAS's kernel sets (its OPENBLAS_CORETYPE names)
// that use AVX2 with FMA or AVX-512.
var avx2Cores = []string{"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"}

// BetterBLASCore returns the OpenBLAS kernel set to ask for when core, the
// one OpenBLAS chose, leaves unused the vector units this CPU has, and ""
// when core is right (or there is no OpenBLAS). OpenBLAS 0.3.21 (Debian 12)
// does not recognise recent Xeons that a hypervisor names "Intel Xeon
// Processor" and falls back to Prescott's SSE3 kernels: on such a 2-core
// Sapphire Rapids VM a 1088x384 by 384x1536 sgemm ran at 28.6 GFLOP/s with
// them and 171 with SkylakeX's, ViT-S/8 scoring at 38.9 and 133 images/s.
func BetterBLASCore(core string) string {
	x := cpu.X86
	return betterCore(core, x.HasAVX512F && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL && x.HasAVX512CD, x.HasAVX2 && x.HasFMA)
}

// betterCore is BetterBLASCore for a CPU with or without AVX-512 (F, BW,
// DQ, VL and CD, what OpenBLAS's SkylakeX kernels use) and AVX2 with FMA.
// A vector kernel set OpenBLAS chose stands (Haswell's on an AVX-512 CPU
// is its choice for some); only a fallback to older ones is replaced.
func betterCore(core string, avx512, avx2 bool) string {
	switch {
	case core == "" || slices.Contains(avx2Cores, core):
		return ""
	case avx512:
		return "SkylakeX"
	case avx2:
		return "Haswell"
	}
	return ""
}
