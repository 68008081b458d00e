// host.h makes backend/gpu's kernels.cu compile as C++ for the host, for
// the GPU executor's tests: g++ -shared -include host.h -x c++ kernels.cu.
//
// A launch (emu_launch) runs the blocks one after another on the calling
// thread. Each CUDA thread of a block is a coroutine with its own stack;
// __syncthreads, __syncwarp and the warp shuffles yield to a scheduler
// that resumes the threads round-robin, so every thread reaches a barrier
// before any passes it. __shared__ variables are statics (one block runs
// at a time), dynamic shared memory a buffer of the launch's size. A
// shuffle writes to an exchange array, yields, reads its partner's value
// and yields again, so every thread of the block must call it together
// (kernels.cu keeps to that). On x86-64 a switch saves and restores the
// callee-saved registers in a few instructions; elsewhere it falls back
// to ucontext, which is slower.
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dim3 { unsigned x, y, z; };
static dim3 threadIdx, blockIdx, blockDim, gridDim;
static char* emu_shared;

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

static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

enum { EMU_MAX_THREADS = 1024, EMU_STACK = 64 << 10 };

#if defined(__x86_64__)
// emu_switch saves the callee-saved registers on the current stack, stores
// its pointer in *from and resumes the stack at to.
extern "C" void emu_switch(void** from, void* to);
__asm__(
	".text\n"
	".globl emu_switch\n"
	".type emu_switch,@function\n"
	"emu_switch:\n"
	"  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
	"  movq %rsp, (%rdi)\n"
	"  movq %rsi, %rsp\n"
	"  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
	"  ret\n");
typedef void* emu_ctx;
static emu_ctx emu_sched, emu_threads[EMU_MAX_THREADS];
static void emu_entry();
// emu_start prepares thread t's stack so that switching to it enters
// emu_entry: six zeroed registers, then emu_entry as the return address,
// 16-byte aligned as a call would leave it.
static void emu_start(int t, char* stack) {
	void** top = (void**)(((unsigned long)(stack + EMU_STACK)) & ~15ul);
	top[-1] = 0;
	top[-2] = (void*)emu_entry;
	for (int i = 3; i <= 8; i++) top[-i] = 0;
	emu_threads[t] = (void*)(top - 8);
}
static inline void emu_to_thread(int t) { emu_switch(&emu_sched, emu_threads[t]); }
static inline void emu_to_sched(int t) { emu_switch(&emu_threads[t], emu_sched); }
#else
#include <ucontext.h>
static ucontext_t emu_sched, emu_threads[EMU_MAX_THREADS];
static void emu_entry();
static void emu_start(int t, char* stack) {
	getcontext(&emu_threads[t]);
	emu_threads[t].uc_stack.ss_sp = stack;
	emu_threads[t].uc_stack.ss_size = EMU_STACK;
	emu_threads[t].uc_link = 0;
	makecontext(&emu_threads[t], emu_entry, 0);
}
static inline void emu_to_thread(int t) { swapcontext(&emu_sched, &emu_threads[t]); }
static inline void emu_to_sched(int t) { swapcontext(&emu_threads[t], &emu_sched); }
#endif

static char* emu_stacks;
static int emu_current;
static bool emu_done[EMU_MAX_THREADS];
static void (*emu_kernel)(const void*);
static const void* emu_args;

// emu_entry runs the kernel as the current thread, then hands back to the
// scheduler for good.
static void emu_entry() {
	emu_kernel(emu_args);
	emu_done[emu_current] = true;
	emu_to_sched(emu_current);
}

static inline void emu_barrier() { emu_to_sched(emu_current); }
#define __syncthreads() emu_barrier()
#define __syncwarp() emu_barrier()

template <typename T> static inline T __shfl_xor_sync(unsigned, T v, int lane) {
	static T exchange[EMU_MAX_THREADS];
	int t = threadIdx.x;
	exchange[t] = v;
	emu_barrier();
	T r = exchange[(t & ~31) | ((t & 31) ^ lane)];
	emu_barrier();
	return r;
}

// emu_launch runs kernel(args) on a gx·gy·gz grid of bx·by·bz-thread
// blocks with shared bytes of dynamic shared memory; 1 on a block too
// large.
extern "C" int emu_launch(void (*kernel)(const void*), unsigned gx, unsigned gy, unsigned gz,
	unsigned bx, unsigned by, unsigned bz, unsigned shared, const void* args) {
	unsigned n = bx * by * bz;
	if (n == 0 || n > EMU_MAX_THREADS) return 1;
	if (!emu_stacks) emu_stacks = (char*)malloc((size_t)EMU_MAX_THREADS * EMU_STACK);
	gridDim = dim3{gx, gy, gz};
	blockDim = dim3{bx, by, bz};
	emu_kernel = kernel;
	emu_args = args;
	emu_shared = (char*)calloc(shared ? shared : 1, 1);
	for (unsigned b = 0; b < gx * gy * gz; b++) {
		blockIdx = dim3{b % gx, (b / gx) % gy, b / (gx * gy)};
		for (unsigned t = 0; t < n; t++) {
			emu_done[t] = false;
			emu_start(t, emu_stacks + (size_t)t * EMU_STACK);
		}
		// Rounds until every thread has finished: in each, every live thread
		// runs to its next barrier or its end.
		for (unsigned live = n; live > 0;) {
			for (unsigned t = 0; t < n; t++) {
				if (emu_done[t]) continue;
				emu_current = t;
				threadIdx = dim3{t % bx, (t / bx) % by, t / (bx * by)};
				emu_to_thread(t);
				if (emu_done[t]) live--;
			}
		}
	}
	free(emu_shared);
	return 0;
}
