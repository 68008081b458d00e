//go:build unix

package main

import (
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/sslens/sslens/backend/nn/ops"
)

// tuneOpenBLAS starts the program again with OpenBLAS's environment set,
// which it reads as the program loads, before main:
//
//   - OPENBLAS_NUM_THREADS=1: sslens splits products over the cores
//     itself and calls OpenBLAS single-threaded, but OpenBLAS still starts
//     a pool of worker threads, which spin in sched_yield after the calls
//     that wake them: 10% of a DINO ViT-S/8 step's CPU samples;
//   - OPENBLAS_CORETYPE, when OpenBLAS fell back to kernels older than
//     the CPU's vector units (see ops.BetterBLASCore: 3 to 6 times slower
//     products).
//
// Values the user set are left alone; should the restart fail, the
// program carries on as it is. A build without OpenBLAS does nothing.
func tuneOpenBLAS() {
	core := ops.BLASCore()
	if core == "" {
		return
	}
	want := map[string]string{}
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
		want["OPENBLAS_NUM_THREADS"] = "1"
	}
	if better := ops.BetterBLASCore(core); better != "" && os.Getenv("OPENBLAS_CORETYPE") == "" {
		want["OPENBLAS_CORETYPE"] = better
	}
	if len(want) == 0 {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	// Replaced, not appended: a variable set empty would come first, and
	// C's getenv reads the first.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		_, ok := want[k]
		return ok
	})
	for k, v := range want {
		env = append(env, k+"="+v)
	}
	syscall.Exec(exe, os.Args, env)
}
