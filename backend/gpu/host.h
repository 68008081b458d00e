// host.h makes kernels.cu compile as C++ for the host, for the GPU
// executor's tests: g++ -fopenmp -shared -include host.h -x c++ kernels.cu.
// A launch (emu_launch) runs the blocks one after another, each as an
// OpenMP team with one thread per CUDA thread: __syncthreads and the warp
// operations are team barriers, __shared__ variables are statics (shared
// by the team), dynamic shared memory a buffer of the launch's size.
// Warp shuffles exchange through a per-block array between two barriers,
// so every thread of the block must call them together (kernels.cu keeps
// to that).
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct dim3 { unsigned x, y, z; };
static thread_local dim3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;
static char* emu_shared;
static float emu_exchange[1024];

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define KERNEL(name, Args) \
	static void name##_body(const Args a); \
	extern "C" void name(const void* p) { name##_body(*(const Args*)p); } \
	extern "C" unsigned long name##_args_size(void) { return sizeof(Args); } \
	static void name##_body(const Args a)
#define DYNAMIC_SHARED(type, name) type* name = (type*)emu_shared
#define __syncthreads() _Pragma("omp barrier")
#define __syncwarp() _Pragma("omp barrier")

static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

static inline float __shfl_xor_sync(unsigned, float v, int lane) {
	int t = threadIdx.x;
	emu_exchange[t] = v;
#pragma omp barrier
	float r = emu_exchange[(t & ~31) | ((t & 31) ^ lane)];
#pragma omp barrier
	return r;
}

extern "C" void emu_launch(void (*kernel)(const void*), unsigned gx, unsigned gy, unsigned gz,
	unsigned bx, unsigned by, unsigned bz, unsigned shared, const void* args) {
	gridDim = dim3{gx, gy, gz};
	blockDim = dim3{bx, by, bz};
	emu_shared = (char*)calloc(shared ? shared : 1, 1);
#pragma omp parallel num_threads(bx * by * bz)
	{
		unsigned t = omp_get_thread_num();
		threadIdx = dim3{t % bx, (t / bx) % by, t / (bx * by)};
		// The team runs the blocks in turn; the barrier keeps a block's
		// shared memory until every thread is done with it.
		for (unsigned b = 0; b < gx * gy * gz; b++) {
			blockIdx = dim3{b % gx, (b / gx) % gy, b / (gx * gy)};
			kernel(args);
#pragma omp barrier
		}
	}
	free(emu_shared);
}
