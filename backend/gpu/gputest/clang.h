// clang.h declares what NVRTC provides without headers, for clang's CUDA
// front end to check kernels.cu's device code with no CUDA toolkit
// installed (clang -x cuda --cuda-device-only -nocudainc -fsyntax-only).
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#include <__clang_cuda_builtin_vars.h>
__device__ float expf(float);
__device__ float logf(float);
__device__ float erff(float);
__device__ float sqrtf(float);
__device__ float rsqrtf(float);
__device__ float fmaxf(float, float);
__device__ double sqrt(double);
__device__ float __shfl_xor_sync(unsigned, float, int);
__device__ double __shfl_xor_sync(unsigned, double, int);
__device__ void __syncwarp(unsigned mask = 0xffffffffu);
