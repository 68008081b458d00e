package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/gpu/cuda"
)

func init() {
	register(command{
		name:    "gpus",
		summary: "list the NVIDIA GPUs this machine offers sslens, with the driver, NVRTC and cuBLAS found, and ready the kernels on each",
		usage: `[--no-compile]

Prints the driver's CUDA version and file, each GPU (name, memory, compute
capability, multiprocessors), and the NVRTC and cuBLAS files found; then
opens each GPU as training and scoring do, which compiles the kernels for
it (or reads them from the cache) and says how long that took. Exits with
status 1, saying what was looked for and where, when the driver or a GPU
cannot be used.`,
		run: func(fs *flag.FlagSet, args []string) error { return runGPUs(fs, args, os.Stdout) },
	})
}

func runGPUs(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	noCompile := fs.Bool("no-compile", false, "list only; do not open the GPUs and ready the kernels")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return errUsage
	}
	dirs := cuda.SearchDirs()
	drv, err := cuda.LoadDriver(dirs)
	if err != nil {
		return err
	}
	version, err := drv.Version()
	if err != nil {
		return err
	}
	devs, err := drv.Devices()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "driver: CUDA %d.%d, %s\n", version/1000, version%1000/10, drv.Path())
	for _, d := range devs {
		fmt.Fprintf(stdout, "cuda:%d %s, %.1f GiB, %s, %d multiprocessors\n", d.Index, d.Name, float64(d.Memory)/(1<<30), d.Arch(), d.Multiprocessors)
	}
	var missing error
	if n, err := cuda.LoadNVRTC(dirs); err != nil {
		fmt.Fprintf(stdout, "NVRTC: %v\n", err)
		missing = err
	} else if v, err := n.Version(); err == nil {
		fmt.Fprintf(stdout, "NVRTC %s, %s\n", v, n.Path())
	}
	if p, err := cuda.FindBLAS(dirs); err != nil {
		fmt.Fprintf(stdout, "cuBLAS: %v\n", err)
		missing = err
	} else {
		fmt.Fprintf(stdout, "cuBLAS, %s\n", p)
	}
	if len(devs) == 0 {
		return fmt.Errorf("the driver sees no GPU")
	}
	if *noCompile {
		return missing
	}
	for _, d := range devs {
		began := time.Now()
		dev, err := gpu.Open(gpu.Spec{CUDA: true, Index: d.Index}, false)
		if err != nil {
			return err
		}
		free, _, err := dev.MemInfo()
		dev.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cuda:%d ready in %.1f s (kernels compiled or cached, cuBLAS loaded), %.1f GiB free\n",
			d.Index, time.Since(began).Seconds(), float64(free)/(1<<30))
	}
	return nil
}
