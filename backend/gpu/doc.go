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
// ViT is the forward (P(lens) and features) for score, embed and eval.
// Per block, with t tokens of width d for n images:
//
//	LayerNorm -> GEMM qkv [n·t, 3d] (+bias) -> attention, one block per
//	(image, head) -> GEMM proj -> residual (+bias, drop path) -> LayerNorm
//	-> GEMM fc1 (+bias, GELU) -> GEMM fc2 -> residual (+bias, drop path)
//
// Classifier trains it (an ssl.Model): the training-mode forward keeps
// each block's activations, the backward runs every op's gradient, and its
// Optimizer (Adam, AdamW or SGD, one fused kernel) keeps the parameters on
// the device between steps. Pretraining (the DINO, iBOT and SimSiam heads
// and losses, the teacher's EMA) is not on the GPU yet.
package gpu
