package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/sslens/sslens/backend/nn/ops"
)

// sslens built with OpenBLAS runs its products on the vector kernels the
// CPU has, whatever OpenBLAS guessed at load (see useBetterBLAS); a kernel
// set the user names in OPENBLAS_CORETYPE is kept.
func TestBLASKernels(t *testing.T) {
	if ops.BLASName() != "openblas" {
		t.Skip("built without OpenBLAS (-tags openblas): gonum has one set of kernels")
	}
	exe := buildSSLens(t)
	core := func(env ...string) string {
		t.Helper()
		cmd := exec.Command(exe, "bench", "--inference", "--presets", "vit_nano", "--batch", "2", "--steps", "1")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		_, rest, ok := strings.Cut(string(out), "BLAS openblas (")
		name, _, ok2 := strings.Cut(rest, " kernels)")
		if !ok || !ok2 {
			t.Fatalf("no kernel set in:\n%s", out)
		}
		return name
	}
	t.Setenv("OPENBLAS_CORETYPE", "") // as unset, to OpenBLAS and sslens
	if got := core(); cpu.X86.HasAVX2 && cpu.X86.HasFMA && !slices.Contains([]string{"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"}, got) {
		t.Errorf("on a CPU with AVX2 and FMA OpenBLAS runs %s kernels", got)
	}
	if got := core("OPENBLAS_CORETYPE=Prescott"); got != "Prescott" {
		t.Errorf("OPENBLAS_CORETYPE=Prescott: %s kernels", got)
	}
}
