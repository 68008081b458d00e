package gpu

import (
	_ "embed"
	"unsafe"
)

// Source is the CUDA C of every kernel, compiled by NVRTC for the GPU
// found (see kernels.cu).
//
//go:embed kernels.cu
var Source string

// KernelNames are the kernels Source defines, each loaded when a device
// opens.
var KernelNames = []string{"patchify", "tokens", "add_bias", "layernorm", "attention", "gather_cls",
	"fill", "keep_mask", "residual", "scale_rows", "softmax_ce", "scatter_cls", "layernorm_backward",
	"normalized_product", "bias_gelu", "gelu_backward", "attention_backward", "tokens_backward",
	"adam_step", "sgd_step", "sum_squares", "sum_partials"}

// Launch geometry: every kernel but sum_partials (one warp) runs blocks of
// 256 threads (8 warps).
// Elementwise kernels loop grid-stride over their elements, so any grid is
// correct; gridFor covers n elements with at most the device's
// GridStride() blocks.
const (
	threads = 256
	warps   = threads / 32
)

func (k kernels) gridFor(n int) int { return max(1, min(k.dev.GridStride(), (n+threads-1)/threads)) }

// The argument structs mirror kernels.cu's: pointers and 64-bit values
// first, then 32-bit ones, so Go and C lay them out alike (TestArgLayout
// checks the sizes against the compiled source).

type patchifyArgs struct {
	patches, images Ptr
	n, c, s, ps     int32
}

type tokensArgs struct {
	x, patches, cls, pos Ptr
	n, p, d              int32
}

type addBiasArgs struct {
	y, b       Ptr
	rows, cols int32
}

type layerNormArgs struct {
	y, mean, rstd, x, gamma, beta Ptr
	rows, d                       int32
	eps                           float32
}

type attentionArgs struct {
	out, probs, qkv    Ptr
	seed               uint64
	n, t, h, dh, first int32
	p                  float32
}

type gatherCLSArgs struct {
	y, x    Ptr
	n, t, d int32
}

type fillArgs struct {
	y Ptr
	n int64
	v float32
}

type keepMaskArgs struct {
	keep     Ptr
	seed     uint64
	n, first int32
	p        float32
}

type residualArgs struct {
	y, x, f, b, keep Ptr
	rows, cols, per  int32
}

type scaleRowsArgs struct {
	y, x, keep      Ptr
	rows, cols, per int32
}

type softmaxCEArgs struct {
	probs, loss, dlogits, logits, labels Ptr
	n, c                                 int32
	scale                                float32
}

type scatterCLSArgs struct {
	dx, dy  Ptr
	n, t, d int32
}

type layerNormBackwardArgs struct {
	dx, dy, x, mean, rstd, gamma Ptr
	rows, d, accumulate          int32
}

type normalizedProductArgs struct {
	prod, dy, x, mean, rstd Ptr
	rows, d                 int32
}

type biasGELUArgs struct {
	y, u, b    Ptr
	rows, cols int32
}

type geluBackwardArgs struct {
	dy, u Ptr
	n     int64
}

type attentionBackwardArgs struct {
	dqkv, dout, qkv, probs Ptr
	seed                   uint64
	n, t, h, dh, first     int32
	p                      float32
}

type tokensBackwardArgs struct {
	dpatches, dpos, dcls, dx Ptr
	n, p, d                  int32
}

type adamStepArgs struct {
	p, m, v, g, decay, sumSq                                   Ptr
	n                                                          int64
	lr, wd, beta1, beta2, c1, c2, eps, stepSize, bc2Sqrt, clip float32
	decoupled                                                  int32
}

type sgdStepArgs struct {
	p, b, g, decay, sumSq  Ptr
	n                      int64
	lr, wd, momentum, clip float32
}

type sumSquaresArgs struct {
	partial, x Ptr
	n          int64
}

type sumPartialsArgs struct {
	out, partial Ptr
	k            int32
}

// argSizes are the Go sizes of each kernel's argument struct.
var argSizes = map[string]uintptr{
	"patchify": unsafe.Sizeof(patchifyArgs{}), "tokens": unsafe.Sizeof(tokensArgs{}),
	"add_bias": unsafe.Sizeof(addBiasArgs{}), "layernorm": unsafe.Sizeof(layerNormArgs{}),
	"attention": unsafe.Sizeof(attentionArgs{}), "gather_cls": unsafe.Sizeof(gatherCLSArgs{}),
	"fill": unsafe.Sizeof(fillArgs{}), "keep_mask": unsafe.Sizeof(keepMaskArgs{}),
	"residual": unsafe.Sizeof(residualArgs{}), "scale_rows": unsafe.Sizeof(scaleRowsArgs{}),
	"softmax_ce": unsafe.Sizeof(softmaxCEArgs{}), "scatter_cls": unsafe.Sizeof(scatterCLSArgs{}),
	"layernorm_backward": unsafe.Sizeof(layerNormBackwardArgs{}), "normalized_product": unsafe.Sizeof(normalizedProductArgs{}),
	"bias_gelu":     unsafe.Sizeof(biasGELUArgs{}),
	"gelu_backward": unsafe.Sizeof(geluBackwardArgs{}), "attention_backward": unsafe.Sizeof(attentionBackwardArgs{}),
	"tokens_backward": unsafe.Sizeof(tokensBackwardArgs{}),
	"adam_step":       unsafe.Sizeof(adamStepArgs{}), "sgd_step": unsafe.Sizeof(sgdStepArgs{}),
	"sum_squares": unsafe.Sizeof(sumSquaresArgs{}), "sum_partials": unsafe.Sizeof(sumPartialsArgs{}),
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

// addBias adds b to each row of y in place.
func (k kernels) addBias(y, b Ptr, rows, cols int) error {
	a := addBiasArgs{y, b, int32(rows), int32(cols)}
	return k.dev.Launch("add_bias", k.gridFor(rows*cols), threads, 0, unsafe.Pointer(&a))
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

// attnDropout is attention dropout for one forward: rate p (0: off), the
// seed of its masks and the batch index of the forward's first sequence.
type attnDropout struct {
	seed  uint64
	first int
	p     float32
}

// attention runs one block per (sequence, head); probs may be 0.
func (k kernels) attention(out, probs, qkv Ptr, n, t, h, dh int, drop attnDropout) error {
	a := attentionArgs{out, probs, qkv, drop.seed, int32(n), int32(t), int32(h), int32(dh), int32(drop.first), drop.p}
	return k.dev.Launch("attention", n*h, threads, attentionShared(t, dh), unsafe.Pointer(&a))
}

// attentionBackwardShared is attention_backward's dynamic shared memory in
// bytes: one head's values (then keys), t·dh, and dS, t·t.
func attentionBackwardShared(t, dh int) int { return 4 * (t*dh + t*t) }

// attentionBackward runs one block per (sequence, head), with the
// forward's dropout.
func (k kernels) attentionBackward(dqkv, dout, qkv, probs Ptr, n, t, h, dh int, drop attnDropout) error {
	a := attentionBackwardArgs{dqkv, dout, qkv, probs, drop.seed, int32(n), int32(t), int32(h), int32(dh), int32(drop.first), drop.p}
	return k.dev.Launch("attention_backward", n*h, threads, attentionBackwardShared(t, dh), unsafe.Pointer(&a))
}

func (k kernels) fill(y Ptr, n int, v float32) error {
	a := fillArgs{y, int64(n), v}
	return k.dev.Launch("fill", k.gridFor(n), threads, 0, unsafe.Pointer(&a))
}

// keepMask draws drop path's factors for samples first..first+n-1.
func (k kernels) keepMask(keep Ptr, seed uint64, n, first int, p float32) error {
	a := keepMaskArgs{keep, seed, int32(n), int32(first), p}
	return k.dev.Launch("keep_mask", k.gridFor(n), threads, 0, unsafe.Pointer(&a))
}

// residual sets y = x + (f + b)·keep[row/per]; keep may be 0.
func (k kernels) residual(y, x, f, b, keep Ptr, rows, cols, per int) error {
	a := residualArgs{y, x, f, b, keep, int32(rows), int32(cols), int32(per)}
	return k.dev.Launch("residual", k.gridFor(rows*cols), threads, 0, unsafe.Pointer(&a))
}

// scaleRows sets y = x·keep[row/per]; keep may be 0 (a copy).
func (k kernels) scaleRows(y, x, keep Ptr, rows, cols, per int) error {
	a := scaleRowsArgs{y, x, keep, int32(rows), int32(cols), int32(per)}
	return k.dev.Launch("scale_rows", k.gridFor(rows*cols), threads, 0, unsafe.Pointer(&a))
}

// softmaxCE: probs, per-row loss and dlogits·scale from logits [n, c] and
// labels (as floats).
func (k kernels) softmaxCE(probs, loss, dlogits, logits, labels Ptr, n, c int, scale float32) error {
	a := softmaxCEArgs{probs, loss, dlogits, logits, labels, int32(n), int32(c), scale}
	return k.dev.Launch("softmax_ce", k.gridFor(n), threads, 0, unsafe.Pointer(&a))
}

func (k kernels) scatterCLS(dx, dy Ptr, n, t, d int) error {
	a := scatterCLSArgs{dx, dy, int32(n), int32(t), int32(d)}
	return k.dev.Launch("scatter_cls", k.gridFor(n*t*d), threads, 0, unsafe.Pointer(&a))
}

// layerNormBackward sets dx, or adds to it when accumulate, one warp per row.
func (k kernels) layerNormBackward(dx, dy, x, mean, rstd, gamma Ptr, rows, d int, accumulate bool) error {
	a := layerNormBackwardArgs{dx, dy, x, mean, rstd, gamma, int32(rows), int32(d), 0}
	if accumulate {
		a.accumulate = 1
	}
	return k.dev.Launch("layernorm_backward", (rows+warps-1)/warps, threads, 0, unsafe.Pointer(&a))
}

// normalizedProduct sets prod = dy·x̂, the terms of LayerNorm's weight
// gradient.
func (k kernels) normalizedProduct(prod, dy, x, mean, rstd Ptr, rows, d int) error {
	a := normalizedProductArgs{prod, dy, x, mean, rstd, int32(rows), int32(d)}
	return k.dev.Launch("normalized_product", k.gridFor(rows*d), threads, 0, unsafe.Pointer(&a))
}

// biasGELU adds b to u in place and sets y = gelu(u).
func (k kernels) biasGELU(y, u, b Ptr, rows, cols int) error {
	a := biasGELUArgs{y, u, b, int32(rows), int32(cols)}
	return k.dev.Launch("bias_gelu", k.gridFor(rows*cols), threads, 0, unsafe.Pointer(&a))
}

// geluBackward multiplies dy in place by gelu'(u).
func (k kernels) geluBackward(dy, u Ptr, n int) error {
	a := geluBackwardArgs{dy, u, int64(n)}
	return k.dev.Launch("gelu_backward", k.gridFor(n), threads, 0, unsafe.Pointer(&a))
}

// tokensBackward sets dpatches and adds to dpos and dcls.
func (k kernels) tokensBackward(dpatches, dpos, dcls, dx Ptr, n, p, d int) error {
	a := tokensBackwardArgs{dpatches, dpos, dcls, dx, int32(n), int32(p), int32(d)}
	return k.dev.Launch("tokens_backward", k.gridFor(n*p*d), threads, 0, unsafe.Pointer(&a))
}

func (k kernels) gatherCLS(y, x Ptr, n, t, d int) error {
	a := gatherCLSArgs{y, x, int32(n), int32(t), int32(d)}
	return k.dev.Launch("gather_cls", k.gridFor(n*d), threads, 0, unsafe.Pointer(&a))
}

func (k kernels) adamStep(a adamStepArgs) error {
	return k.dev.Launch("adam_step", k.gridFor(int(a.n)), threads, 0, unsafe.Pointer(&a))
}

func (k kernels) sgdStep(a sgdStepArgs) error {
	return k.dev.Launch("sgd_step", k.gridFor(int(a.n)), threads, 0, unsafe.Pointer(&a))
}

// sumSquares sets out (a double in two floats' room) to Σx² over x [n],
// through partial, which needs two floats per block of gridFor(n).
func (k kernels) sumSquares(out, partial, x Ptr, n int) error {
	grid := k.gridFor(n)
	a := sumSquaresArgs{partial, x, int64(n)}
	if err := k.dev.Launch("sum_squares", grid, threads, 0, unsafe.Pointer(&a)); err != nil {
		return err
	}
	b := sumPartialsArgs{out, partial, int32(grid)}
	return k.dev.Launch("sum_partials", 1, 32, 0, unsafe.Pointer(&b))
}
