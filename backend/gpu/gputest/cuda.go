package gputest

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

//go:embed clang.h
var clangHeader string

// Clang is the clang that CheckCUDA runs: the first of clang-14 and clang
// on the PATH.
func Clang() (string, error) {
	for _, name := range []string{"clang-14", "clang"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("gputest: no clang to check the CUDA source (apt-get install clang-14)")
}

// CheckCUDA checks source (kernels.cu's text) as CUDA device code with
// clang's front end for arch (sm_80: clang 14 knows no later one; the
// source uses nothing newer), against the declarations of clang.h in
// place of NVRTC's built-ins: what g++ on the host cannot see, such as a
// host function called from a kernel. It returns clang's diagnostics.
func CheckCUDA(source, arch string) error {
	clang, err := Clang()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sslens-gpu-cuda")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src, header := filepath.Join(dir, "kernels.cu"), filepath.Join(dir, "clang.h")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(header, []byte(clangHeader), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(clang, "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch="+arch, "-nocudainc", "-nocudalib",
		"-fsyntax-only", "-std=c++17", "-Wall", "-Werror", "-include", header, src).CombinedOutput()
	if err != nil {
		return fmt.Errorf("gputest: %s rejects kernels.cu as CUDA: %v\n%s", filepath.Base(clang), err, out)
	}
	return nil
}
