// sslens's GPU kernels: CUDA C compiled at run time by NVRTC for the GPU
// found, and, with host.h included first, as C++ on the host for the
// executor's tests (one OpenMP thread per CUDA thread, one block at a
// time). Every kernel takes one struct of pointers first, then 32-bit
// sizes, which the Go side mirrors field for field (see kernels.go).
// Matrices are row-major float32; shapes are given as [rows, cols].
//
// Host emulation needs every thread of a block to reach each barrier and
// warp shuffle, so threads with nothing to do still take part in them.

#ifndef KERNEL
#define KERNEL(name, Args) extern "C" __global__ void name(const Args a)
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#define FULL_MASK 0xffffffffu

// warpSum and warpMax reduce v across the 32 lanes of a warp; every lane
// gets the result.
__device__ __forceinline__ float warpSum(float v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
	return v;
}
__device__ __forceinline__ float warpMax(float v) {
	for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
	return v;
}

// gelu is PyTorch's exact nn.GELU: x·Φ(x) = x/2·(1 + erf(x/√2)).
__device__ __forceinline__ float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

// patchify copies images [n, c, s, s] into patches [n·g·g, c·ps·ps], g = s/ps,
// the patch grid in row-major order and each row ordered (channel, ky, kx)
// as a flattened Conv2d weight: the patch embedding is then a GEMM.
// One thread per patch value, grid-stride.
struct PatchifyArgs {
	float* patches;
	const float* images;
	int n, c, s, ps;
};
KERNEL(patchify, PatchifyArgs) {
	int g = a.s / a.ps, cols = a.c * a.ps * a.ps;
	long total = (long)a.n * g * g * cols;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
		int col = i % cols;
		long patch = i / cols;
		int img = patch / (g * g), gy = (patch / g) % g, gx = patch % g;
		int ch = col / (a.ps * a.ps), ky = (col / a.ps) % a.ps, kx = col % a.ps;
		a.patches[i] = a.images[(((long)img * a.c + ch) * a.s + gy * a.ps + ky) * a.s + gx * a.ps + kx];
	}
}

// tokens builds x [n·(p+1), d] from patch embeddings [n·p, d]: per image,
// row 0 is cls[d] + pos[0], row 1+j is patches[j] + pos[1+j].
struct TokensArgs {
	float* x;
	const float* patches;
	const float* cls;
	const float* pos;
	int n, p, d;
};
KERNEL(tokens, TokensArgs) {
	int t = a.p + 1;
	long total = (long)a.n * t * a.d;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
		int j = i % a.d;
		long row = i / a.d;
		int img = row / t, k = row % t;
		float v = k == 0 ? a.cls[j] : a.patches[((long)img * a.p + k - 1) * a.d + j];
		a.x[i] = v + a.pos[(long)k * a.d + j];
	}
}

// biasAct adds b[cols] to each row of y [rows, cols] in place, then applies
// GELU when gelu is 1.
struct BiasActArgs {
	float* y;
	const float* b;
	int rows, cols, gelu;
};
KERNEL(bias_act, BiasActArgs) {
	long total = (long)a.rows * a.cols;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
		float v = a.y[i] + a.b[i % a.cols];
		a.y[i] = a.gelu ? gelu(v) : v;
	}
}

// layernorm normalises rows of x [rows, d] (biased variance, eps) and
// scales by gamma, shifts by beta into y. One warp per row; mean and rstd
// [rows] receive each row's mean and 1/sqrt(var+eps) when not null.
// Rows are read three times, from L1 after the first.
struct LayerNormArgs {
	float* y;
	float* mean;
	float* rstd;
	const float* x;
	const float* gamma;
	const float* beta;
	int rows, d;
	float eps;
};
KERNEL(layernorm, LayerNormArgs) {
	int warps = blockDim.x / 32, lane = threadIdx.x % 32;
	long row = (long)blockIdx.x * warps + threadIdx.x / 32;
	bool active = row < a.rows;
	const float* xr = a.x + (active ? row : 0) * a.d;
	float s = 0;
	if (active)
		for (int j = lane; j < a.d; j += 32) s += xr[j];
	float m = warpSum(s) / a.d;
	float ss = 0;
	if (active)
		for (int j = lane; j < a.d; j += 32) ss += (xr[j] - m) * (xr[j] - m);
	float rs = rsqrtf(warpSum(ss) / a.d + a.eps);
	if (!active) return;
	float* yr = a.y + row * a.d;
	for (int j = lane; j < a.d; j += 32) yr[j] = (xr[j] - m) * rs * a.gamma[j] + a.beta[j];
	if (lane == 0 && a.mean) {
		a.mean[row] = m;
		a.rstd[row] = rs;
	}
}

// attention computes softmax(q·kᵀ/√dh)·v for one (sequence, head) per block
// from qkv [n·t, 3·h·dh] (timm's layout: q, k, v side by side, heads inside
// each), writing the heads side by side into out [n·t, h·dh]. Keys and
// values sit in shared memory; each warp takes query rows in turn, lanes
// splitting the keys for the scores and the head's columns for the output.
// probs [n·h·t·t] keeps the softmax for the backward when not null.
// Dynamic shared memory: (2·t·dh + warps·t) floats (attentionShared).
struct AttentionArgs {
	float* out;
	float* probs;
	const float* qkv;
	int n, t, h, dh;
};
KERNEL(attention, AttentionArgs) {
	DYNAMIC_SHARED(float, smem);
	int seq = blockIdx.x / a.h, head = blockIdx.x % a.h;
	int d = a.h * a.dh, ld = 3 * d, t = a.t, dh = a.dh;
	int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	float* ks = smem;
	float* vs = ks + t * dh;
	float* ps = vs + t * dh + warp * t;
	const float* base = a.qkv + (long)seq * t * ld + head * dh;
	for (int i = threadIdx.x; i < t * dh; i += blockDim.x) {
		int r = i / dh, c = i % dh;
		ks[i] = base[(long)r * ld + d + c];
		vs[i] = base[(long)r * ld + 2 * d + c];
	}
	__syncthreads();
	float scale = rsqrtf((float)dh);
	int rounds = (t + warps - 1) / warps;
	for (int round = 0; round < rounds; round++) {
		int i = round * warps + warp;
		bool active = i < t;
		const float* q = base + (long)(active ? i : 0) * ld;
		float mx = -3.4028235e38f; // -FLT_MAX: NVRTC has no headers
		for (int j = lane; j < t; j += 32) {
			float s = 0;
			for (int c = 0; c < dh; c++) s += q[c] * ks[j * dh + c];
			s *= scale;
			ps[j] = s;
			mx = fmaxf(mx, s);
		}
		mx = warpMax(mx);
		float sum = 0;
		for (int j = lane; j < t; j += 32) {
			float e = expf(ps[j] - mx);
			ps[j] = e;
			sum += e;
		}
		float inv = 1.0f / warpSum(sum);
		for (int j = lane; j < t; j += 32) ps[j] *= inv;
		__syncwarp();
		if (active) {
			if (a.probs)
				for (int j = lane; j < t; j += 32) a.probs[(((long)seq * a.h + head) * t + i) * t + j] = ps[j];
			float* o = a.out + ((long)seq * t + i) * d + head * dh;
			for (int c = lane; c < dh; c += 32) {
				float acc = 0;
				for (int j = 0; j < t; j++) acc += ps[j] * vs[j * dh + c];
				o[c] = acc;
			}
		}
		__syncwarp();
	}
}

// gatherCLS copies row 0 of each of the n sequences of t rows in x [n·t, d]
// into y [n, d].
struct GatherCLSArgs {
	float* y;
	const float* x;
	int n, t, d;
};
KERNEL(gather_cls, GatherCLSArgs) {
	long total = (long)a.n * a.d;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
		a.y[i] = a.x[(i / a.d) * a.t * a.d + i % a.d];
}
