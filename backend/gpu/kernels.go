package gpu

import (
	_ "embed"
	"fmt"
	"unsafe"
)

// Source is the CUDA C of every kernel, compiled by NVRTC for the GPU
// found (see kernels.cu).
//
//go:embed kernels.cu
var Source string

// KernelNames are the kernels Source defines, each loaded when a device
// opens.
var KernelNames = []string{"patchify", "tokens", "bias_act", "layernorm", "attention", "gather_cls"}

// Launch geometry: every kernel runs blocks of 256 threads (8 warps).
// Elementwise kernels loop grid-stride over their elements, so any grid is
// correct; gridFor covers n elements with at most the device's
// GridStride() blocks.
const (
	threads = 256
	warps   = threads / 32
)

func (k kernels) gridFor(n int) int { return max(1, min(k.dev.GridStride(), (n+threads-1)/threads)) }

// The argument structs mirror kernels.cu's: pointers first, then 32-bit
// values, so Go and C lay them out alike (TestArgLayout checks the sizes
// against the compiled source).

type patchifyArgs struct {
	patches, images Ptr
	n, c, s, ps     int32
}

type tokensArgs struct {
	x, patches, cls, pos Ptr
	n, p, d              int32
}

type biasActArgs struct {
	y, b             Ptr
	rows, cols, gelu int32
}

type layerNormArgs struct {
	y, mean, rstd, x, gamma, beta Ptr
	rows, d                       int32
	eps                           float32
}

type attentionArgs struct {
	out, probs, qkv Ptr
	n, t, h, dh     int32
}

type gatherCLSArgs struct {
	y, x    Ptr
	n, t, d int32
}

// argSizes are the Go sizes of each kernel's argument struct.
var argSizes = map[string]uintptr{
	"patchify": unsafe.Sizeof(patchifyArgs{}), "tokens": unsafe.Sizeof(tokensArgs{}),
	"bias_act": unsafe.Sizeof(biasActArgs{}), "layernorm": unsafe.Sizeof(layerNormArgs{}),
	"attention": unsafe.Sizeof(attentionArgs{}), "gather_cls": unsafe.Sizeof(gatherCLSArgs{}),
}

// kernels launches kernels.cu's kernels on a device with their geometry.
type kernels struct{ dev Device }

func (k kernels) patchify(patches, images Ptr, n, c, s, ps int) error {
	a := patchifyArgs{patches, images, int32(n), int32(c), int32(s), int32(ps)}
	g := s / ps
	return k.dev.Launch("patchify", k.gridFor(n*g*g*c*ps*ps), threads, 0, unsafe.Pointer(&a))
}

func (k kernels) tokens(x, patches, cls, pos Ptr, n, p, d int) error {
	a := tokensArgs{x, patches, cls, pos, int32(n), int32(p), int32(d)}
	return k.dev.Launch("tokens", k.gridFor(n*(p+1)*d), threads, 0, unsafe.Pointer(&a))
}

func (k kernels) biasAct(y, b Ptr, rows, cols int, gelu bool) error {
	a := biasActArgs{y, b, int32(rows), int32(cols), 0}
	if gelu {
		a.gelu = 1
	}
	return k.dev.Launch("bias_act", k.gridFor(rows*cols), threads, 0, unsafe.Pointer(&a))
}

// layerNorm runs one warp per row; mean and rstd may be 0.
func (k kernels) layerNorm(y, mean, rstd, x, gamma, beta Ptr, rows, d int, eps float32) error {
	a := layerNormArgs{y, mean, rstd, x, gamma, beta, int32(rows), int32(d), eps}
	return k.dev.Launch("layernorm", (rows+warps-1)/warps, threads, 0, unsafe.Pointer(&a))
}

// attentionShared is the dynamic shared memory of one attention block in
// bytes: keys and values of one head, t·dh each, and a row of t scores
// per warp.
func attentionShared(t, dh int) int { return 4 * (2*t*dh + warps*t) }

// attention runs one block per (sequence, head); probs may be 0.
func (k kernels) attention(out, probs, qkv Ptr, n, t, h, dh int) error {
	shared := attentionShared(t, dh)
	if shared > k.dev.MaxShared() {
		return fmt.Errorf("gpu: attention over %d tokens of head width %d needs %d bytes of shared memory, the device has %d per block",
			t, dh, shared, k.dev.MaxShared())
	}
	a := attentionArgs{out, probs, qkv, int32(n), int32(t), int32(h), int32(dh)}
	return k.dev.Launch("attention", n*h, threads, shared, unsafe.Pointer(&a))
}

func (k kernels) gatherCLS(y, x Ptr, n, t, d int) error {
	a := gatherCLSArgs{y, x, int32(n), int32(t), int32(d)}
	return k.dev.Launch("gather_cls", k.gridFor(n*d), threads, 0, unsafe.Pointer(&a))
}
