// Package gpu runs sslens's ViT on NVIDIA GPUs: the same parameters
// (vit.Params), checkpoints and results as backend/nn's CPU engine, which
// is the reference it is tested against.
//
// The executor is written once against Device: float32 device memory,
// the kernels of kernels.cu launched by name, and row-major GEMMs. On a
// GPU (Open, cudaDevice) the kernels are compiled at run time by NVRTC for
// the device found (cached under the user cache folder) and GEMMs go to
// cuBLAS, all bound through package cuda without cgo. The tests compile
// the same kernels.cu as C++ with host.h and run it on the host, one
// OpenMP thread per CUDA thread, so the whole executor is checked against
// the CPU engine on machines without a GPU.
//
// ViT is the evaluation forward (P(lens) and features) for score, embed
// and eval. Per layer, with t tokens of width d for n images:
//
//	LayerNorm -> GEMM qkv [n·t, 3d] (+bias) -> attention, one block per
//	(image, head) -> GEMM proj with beta 1 onto the residual stream (+bias)
//	-> LayerNorm -> GEMM fc1 (+bias, GELU) -> GEMM fc2 onto the stream (+bias)
//
// Training (forward and backward of every op, the DINO, iBOT and SimSiam
// heads and losses, fused optimiser and EMA kernels) is not on the GPU yet.
package gpu
