//go:build unix

package main

import (
	"os"
	"syscall"

	"github.com/sslens/sslens/backend/nn/ops"
)

// useBetterBLAS starts the program again with OPENBLAS_CORETYPE set when
// OpenBLAS fell back to kernels older than the CPU's vector units (see
// ops.BetterBLASCore: 3 to 6 times slower products). OpenBLAS reads the
// variable as the program loads, before main, so only a fresh start can
// change its choice. A value the user set is left alone; should the
// restart fail, the program carries on with the kernels it has.
func useBetterBLAS() {
	if os.Getenv("OPENBLAS_CORETYPE") != "" {
		return
	}
	core := ops.BetterBLASCore(ops.BLASCore())
	if core == "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	syscall.Exec(exe, os.Args, append(os.Environ(), "OPENBLAS_CORETYPE="+core))
}
