package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/sslens/sslens/backend/nn/ops"
)

// sslens built with OpenBLAS runs its products on the vector kernels the
// CPU has, whatever OpenBLAS guessed at load, and without OpenBLAS's
// thread pool (see tuneOpenBLAS); what the user sets is kept.
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

	// The environment the running process ends up with, read from /proc.
	threads := func(env ...string) string {
		t.Helper()
		cmd := exec.Command(exe, "bench", "--inference", "--presets", "vit_small", "--steps", "1000")
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid))
			for _, kv := range strings.Split(string(b), "\x00") {
				if v, ok := strings.CutPrefix(kv, "OPENBLAS_NUM_THREADS="); ok && v != "" {
					return v // once restarted: the empty value the test sets is replaced
				}
			}
		}
		t.Fatal("the running sslens has no OPENBLAS_NUM_THREADS")
		return ""
	}
	t.Setenv("OPENBLAS_NUM_THREADS", "")
	if got := threads(); got != "1" {
		t.Errorf("OpenBLAS runs with OPENBLAS_NUM_THREADS=%s, want 1", got)
	}
	if got := threads("OPENBLAS_NUM_THREADS=3"); got != "3" {
		t.Errorf("the user's OPENBLAS_NUM_THREADS=3 became %s", got)
	}
}
