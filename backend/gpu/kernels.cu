// sslens's GPU kernels: CUDA C compiled at run time by NVRTC for the GPU
// found, and, with host.h included first, as C++ on the host for the
// executor's tests (one OpenMP thread per CUDA thread, one block at a
// time). Every kernel takes one struct: pointers and 64-bit values first,
// then 32-bit ones, which the Go side mirrors field for field (kernels.go).
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

// mix64 is splitmix64's finaliser.
__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

// keepScale is inverted dropout's factor for draw i of stream seed: 0 with
// chance p, else 1/(1-p). Counter-based, so the backward recomputes the
// forward's masks instead of storing them, and a draw depends only on
// (seed, i), not on launch geometry.
__device__ __forceinline__ float keepScale(unsigned long long seed, unsigned long long i, float p) {
	float u = (mix64(seed + 0x9E3779B97F4A7C15ull * (i + 1)) >> 40) * (1.0f / 16777216.0f);
	return u >= p ? 1.0f / (1.0f - p) : 0.0f;
}

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

// addBias adds b[cols] to each row of y [rows, cols] in place.
struct AddBiasArgs {
	float* y;
	const float* b;
	int rows, cols;
};
KERNEL(add_bias, AddBiasArgs) {
	long total = (long)a.rows * a.cols;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
		a.y[i] += a.b[i % a.cols];
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
//
// With p > 0 each probability is kept with chance 1-p and scaled by
// 1/(1-p) (keepScale of seed, numbered ((first+seq)·h + head)·t·t + i·t + j,
// first the batch index of the launch's first sequence); probs keeps the
// probabilities before dropout.
struct AttentionArgs {
	float* out;
	float* probs;
	const float* qkv;
	unsigned long long seed;
	int n, t, h, dh, first;
	float p;
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
		// Each lane normalises, keeps and drops its own keys; the whole row
		// is read only after the barrier.
		unsigned long long at = ((unsigned long long)(a.first + seq) * a.h + head) * t * t + (unsigned long long)i * t;
		for (int j = lane; j < t; j += 32) {
			ps[j] *= inv;
			if (active && a.probs) a.probs[(((long)seq * a.h + head) * t + i) * t + j] = ps[j];
			if (a.p > 0) ps[j] *= keepScale(a.seed, at + j, a.p);
		}
		__syncwarp();
		if (active) {
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

// ---- Training: the forward's extra pieces, the backward, the loss. ----

// fill sets y [n] to v.
struct FillArgs {
	float* y;
	long long n;
	float v;
};
KERNEL(fill, FillArgs) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < a.n; i += (long long)gridDim.x * blockDim.x)
		a.y[i] = a.v;
}

// keepMask sets keep [n] to drop path's per-sample factors: keepScale of
// seed for samples first..first+n-1.
struct KeepMaskArgs {
	float* keep;
	unsigned long long seed;
	int n, first;
	float p;
};
KERNEL(keep_mask, KeepMaskArgs) {
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += gridDim.x * blockDim.x)
		a.keep[i] = keepScale(a.seed, a.first + i, a.p);
}

// residual sets y = x + (f + b)·keep[row / per] over [rows, cols]: a
// branch f with its bias b[cols] added onto the residual stream x, the
// branch dropped per sample (drop path; keep null: kept). y may be x.
struct ResidualArgs {
	float* y;
	const float* x;
	const float* f;
	const float* b;
	const float* keep;
	int rows, cols, per;
};
KERNEL(residual, ResidualArgs) {
	long total = (long)a.rows * a.cols;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
		float v = a.f[i] + a.b[i % a.cols];
		if (a.keep) v *= a.keep[i / a.cols / a.per];
		a.y[i] = a.x[i] + v;
	}
}

// scaleRows sets y = x·keep[row / per] over [rows, cols]: the gradient
// through a dropped branch (keep null: a copy).
struct ScaleRowsArgs {
	float* y;
	const float* x;
	const float* keep;
	int rows, cols, per;
};
KERNEL(scale_rows, ScaleRowsArgs) {
	long total = (long)a.rows * a.cols;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
		a.y[i] = a.keep ? a.x[i] * a.keep[i / a.cols / a.per] : a.x[i];
}

// softmaxCE computes, per row of logits [n, c] with labels[n] (stored as
// floats), the softmax into probs, -log p[label] into loss[n], and
// dlogits = (p - onehot)·scale: the gradient of scale·Σ loss.
struct SoftmaxCEArgs {
	float* probs;
	float* loss;
	float* dlogits;
	const float* logits;
	const float* labels;
	int n, c;
	float scale;
};
KERNEL(softmax_ce, SoftmaxCEArgs) {
	for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < a.n; r += gridDim.x * blockDim.x) {
		const float* l = a.logits + (long)r * a.c;
		float mx = l[0];
		for (int j = 1; j < a.c; j++) mx = fmaxf(mx, l[j]);
		float sum = 0;
		for (int j = 0; j < a.c; j++) sum += expf(l[j] - mx);
		int label = (int)a.labels[r];
		a.loss[r] = logf(sum) - (l[label] - mx);
		for (int j = 0; j < a.c; j++) {
			float p = expf(l[j] - mx) / sum;
			a.probs[(long)r * a.c + j] = p;
			a.dlogits[(long)r * a.c + j] = (p - (j == label ? 1.0f : 0.0f)) * a.scale;
		}
	}
}

// scatterCLS sets dx [n·t, d] to dy [n, d] in each sequence's row 0 and
// zero elsewhere: the gradient through taking the class token.
struct ScatterCLSArgs {
	float* dx;
	const float* dy;
	int n, t, d;
};
KERNEL(scatter_cls, ScatterCLSArgs) {
	long total = (long)a.n * a.t * a.d;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
		long row = i / a.d;
		a.dx[i] = row % a.t == 0 ? a.dy[(row / a.t) * a.d + i % a.d] : 0.0f;
	}
}

// layernormBackward sets (accumulate 0) or adds to (1) dx [rows, d] the
// gradient through the normalisation, from dy, the forward's input x and
// its mean and rstd: rstd·(g - mean(g) - x̂·mean(g·x̂)), g = dy·gamma.
// One warp per row.
struct LayerNormBackwardArgs {
	float* dx;
	const float* dy;
	const float* x;
	const float* mean;
	const float* rstd;
	const float* gamma;
	int rows, d, accumulate;
};
KERNEL(layernorm_backward, LayerNormBackwardArgs) {
	int warps = blockDim.x / 32, lane = threadIdx.x % 32;
	long row = (long)blockIdx.x * warps + threadIdx.x / 32;
	bool active = row < a.rows;
	long at = (active ? row : 0) * a.d;
	float m = active ? a.mean[row] : 0, rs = active ? a.rstd[row] : 0;
	float sg = 0, sgx = 0;
	if (active)
		for (int j = lane; j < a.d; j += 32) {
			float g = a.dy[at + j] * a.gamma[j];
			sg += g;
			sgx += g * (a.x[at + j] - m) * rs;
		}
	sg = warpSum(sg) / a.d;
	sgx = warpSum(sgx) / a.d;
	if (!active) return;
	for (int j = lane; j < a.d; j += 32) {
		float v = rs * (a.dy[at + j] * a.gamma[j] - sg - (a.x[at + j] - m) * rs * sgx);
		a.dx[at + j] = a.accumulate ? a.dx[at + j] + v : v;
	}
}

// normalizedProduct sets prod = dy·x̂ over [rows, d], x̂ = (x - mean)·rstd
// per row: the terms of LayerNorm's weight gradient, which a GEMM with a
// ones vector then sums over rows.
struct NormalizedProductArgs {
	float* prod;
	const float* dy;
	const float* x;
	const float* mean;
	const float* rstd;
	int rows, d;
};
KERNEL(normalized_product, NormalizedProductArgs) {
	long total = (long)a.rows * a.d;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
		long r = i / a.d;
		a.prod[i] = a.dy[i] * (a.x[i] - a.mean[r]) * a.rstd[r];
	}
}

// biasGELU sets y = gelu(u) with u = x + b[cols] kept for the backward.
struct BiasGELUArgs {
	float* y;
	float* u;
	const float* b;
	int rows, cols;
};
KERNEL(bias_gelu, BiasGELUArgs) {
	long total = (long)a.rows * a.cols;
	for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
		float v = a.u[i] + a.b[i % a.cols];
		a.u[i] = v;
		a.y[i] = gelu(v);
	}
}

// geluBackward sets du = dy·(Φ(u) + u·φ(u)) in place of dy.
struct GELUBackwardArgs {
	float* dy;
	const float* u;
	long long n;
};
KERNEL(gelu_backward, GELUBackwardArgs) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < a.n; i += (long long)gridDim.x * blockDim.x) {
		float u = a.u[i];
		float cdf = 0.5f * (1.0f + erff(u * 0.70710678118654752f));
		a.dy[i] *= cdf + u * expf(-0.5f * u * u) * 0.3989422804014327f;
	}
}

// attentionBackward sets dqkv [n·t, 3d] from dout [n·t, d], the forward's
// qkv and probs (before dropout), its dropout recomputed from (seed, p,
// first) as the forward drew it. One block per (sequence, head): each warp
// takes query rows, lanes keys, for dS = P⊙(dP - rowsum(P⊙dP)) with
// dP = (dout·vᵀ)⊙mask, kept in shared memory; then the block's threads
// take (row, column) pairs for dq = scale·dS·k, dk = scale·dSᵀ·q and
// dv = (P⊙mask)ᵀ·dout. Dynamic shared memory: (t·dh + t·t) floats.
struct AttentionBackwardArgs {
	float* dqkv;
	const float* dout;
	const float* qkv;
	const float* probs;
	unsigned long long seed;
	int n, t, h, dh, first;
	float p;
};
KERNEL(attention_backward, AttentionBackwardArgs) {
	DYNAMIC_SHARED(float, smem);
	int seq = blockIdx.x / a.h, head = blockIdx.x % a.h;
	int d = a.h * a.dh, ld = 3 * d, t = a.t, dh = a.dh;
	int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	float* vs = smem;       // [t, dh]: values, then keys
	float* ds = vs + t * dh; // [t, t]
	const float* base = a.qkv + (long)seq * t * ld + head * dh;
	const float* P = a.probs + ((long)seq * a.h + head) * t * t;
	const float* dO = a.dout + (long)seq * t * d + head * dh;
	unsigned long long maskAt = ((unsigned long long)(a.first + seq) * a.h + head) * t * t;
	float scale = rsqrtf((float)dh);
	for (int i = threadIdx.x; i < t * dh; i += blockDim.x) vs[i] = base[(long)(i / dh) * ld + 2 * d + i % dh];
	__syncthreads();
	int rounds = (t + warps - 1) / warps;
	for (int round = 0; round < rounds; round++) {
		int i = round * warps + warp;
		bool active = i < t;
		float dot = 0;
		if (active)
			for (int j = lane; j < t; j += 32) {
				float dp = 0;
				for (int c = 0; c < dh; c++) dp += dO[(long)i * d + c] * vs[j * dh + c];
				if (a.p > 0) dp *= keepScale(a.seed, maskAt + (unsigned long long)i * t + j, a.p);
				ds[i * t + j] = dp;
				dot += P[i * t + j] * dp;
			}
		dot = warpSum(dot);
		if (active)
			for (int j = lane; j < t; j += 32) ds[i * t + j] = P[i * t + j] * (ds[i * t + j] - dot);
	}
	__syncthreads();
	// dv_j = Σ_i A_ij·dout_i with A = P⊙mask; vs is free again after it.
	float* dqkv = a.dqkv + (long)seq * t * ld + head * dh;
	for (int e = threadIdx.x; e < t * dh; e += blockDim.x) {
		int j = e / dh, c = e % dh;
		float acc = 0;
		for (int i = 0; i < t; i++) {
			float w = P[i * t + j];
			if (a.p > 0) w *= keepScale(a.seed, maskAt + (unsigned long long)i * t + j, a.p);
			acc += w * dO[(long)i * d + c];
		}
		dqkv[(long)j * ld + 2 * d + c] = acc;
	}
	__syncthreads();
	for (int i = threadIdx.x; i < t * dh; i += blockDim.x) vs[i] = base[(long)(i / dh) * ld + d + i % dh];
	__syncthreads();
	for (int e = threadIdx.x; e < t * dh; e += blockDim.x) {
		int r = e / dh, c = e % dh;
		float dq = 0, dk = 0;
		for (int j = 0; j < t; j++) {
			dq += ds[r * t + j] * vs[j * dh + c];            // keys
			dk += ds[j * t + r] * base[(long)j * ld + c];   // queries
		}
		dqkv[(long)r * ld + c] = scale * dq;
		dqkv[(long)r * ld + d + c] = scale * dk;
	}
}

// tokensBackward takes dx [n·(p+1), d] apart: dpatches [n·p, d] its patch
// rows, and adds Σ over images of each position's row to dpos [p+1, d] and
// of row 0 to dcls [d]. Threads take (position, column) pairs for the sums.
struct TokensBackwardArgs {
	float* dpatches;
	float* dpos;
	float* dcls;
	const float* dx;
	int n, p, d;
};
KERNEL(tokens_backward, TokensBackwardArgs) {
	int t = a.p + 1;
	long stride = (long)gridDim.x * blockDim.x;
	long first = blockIdx.x * (long)blockDim.x + threadIdx.x;
	for (long e = first; e < (long)t * a.d; e += stride) {
		int k = e / a.d, j = e % a.d;
		float s = 0;
		for (int i = 0; i < a.n; i++) s += a.dx[((long)i * t + k) * a.d + j];
		a.dpos[e] += s;
		if (k == 0) a.dcls[j] += s;
	}
	long total = (long)a.n * a.p * a.d;
	for (long e = first; e < total; e += stride) {
		long row = e / a.d;
		a.dpatches[e] = a.dx[((row / a.p) * t + row % a.p + 1) * a.d + e % a.d];
	}
}

// ---- Optimisers, on the parameters' one allocation. ----

// clipScale is the factor torch.nn.utils.clip_grad_norm_ scales gradients
// by: clip/(‖g‖ + 1e-6) when below 1; sumSq points at Σg² (double) or is
// null, and clip <= 0 means no clipping.
__device__ __forceinline__ float clipScale(const double* sumSq, float clip) {
	if (!sumSq || clip <= 0) return 1.0f;
	double coef = clip / (sqrt(*sumSq) + 1e-6);
	return coef < 1 ? (float)coef : 1.0f;
}

// adamStep is optim.Adam's update over n values: gradients g (scaled by
// clipScale), L2 decay wd·decay[i] added to them (Adam) or decoupled
// (AdamW: p·(1 - lr·wd·decay[i])), moments m and v, stepSize =
// lr/(1-β1^t), bc2Sqrt = √(1-β2^t) and c1 = 1-β1, c2 = 1-β2 from the host
// (rounded from double, as optim.Adam's).
struct AdamStepArgs {
	float* p;
	float* m;
	float* v;
	const float* g;
	const float* decay;
	const double* sumSq;
	long long n;
	float lr, wd, beta1, beta2, c1, c2, eps, stepSize, bc2Sqrt, clip;
	int decoupled;
};
KERNEL(adam_step, AdamStepArgs) {
	float scale = clipScale(a.sumSq, a.clip);
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < a.n; i += (long long)gridDim.x * blockDim.x) {
		float wd = a.wd * a.decay[i], p = a.p[i];
		float keep = a.decoupled ? 1.0f - a.lr * wd : 1.0f;
		float g = a.g[i] * scale + (a.decoupled ? 0.0f : wd * p);
		float m = a.beta1 * a.m[i] + a.c1 * g;
		float v = a.beta2 * a.v[i] + a.c2 * g * g;
		a.m[i] = m;
		a.v[i] = v;
		a.p[i] = p * keep - a.stepSize * (m / (sqrtf(v) / a.bc2Sqrt + a.eps));
	}
}

// sgdStep is optim.SGD's update: b = μ·b + (g·clipScale + wd·decay[i]·p),
// p -= lr·b.
struct SGDStepArgs {
	float* p;
	float* b;
	const float* g;
	const float* decay;
	const double* sumSq;
	long long n;
	float lr, wd, momentum, clip;
};
KERNEL(sgd_step, SGDStepArgs) {
	float scale = clipScale(a.sumSq, a.clip);
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < a.n; i += (long long)gridDim.x * blockDim.x) {
		float b = a.momentum * a.b[i] + (a.g[i] * scale + a.wd * a.decay[i] * a.p[i]);
		a.b[i] = b;
		a.p[i] -= a.lr * b;
	}
}

// sumSquares writes each block's Σx² over its grid-stride share of x [n],
// in double, to partial[blockIdx.x]; sumPartials then adds the k partials
// in order into out[0]: the same total for the same grid, run after run.
struct SumSquaresArgs {
	double* partial;
	const float* x;
	long long n;
};
KERNEL(sum_squares, SumSquaresArgs) {
	__shared__ double warpSums[32];
	double s = 0;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < a.n; i += (long long)gridDim.x * blockDim.x)
		s += (double)a.x[i] * a.x[i];
	for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(FULL_MASK, s, o);
	if (threadIdx.x % 32 == 0) warpSums[threadIdx.x / 32] = s;
	__syncthreads();
	if (threadIdx.x == 0) {
		double total = 0;
		for (int w = 0; w < (int)blockDim.x / 32; w++) total += warpSums[w];
		a.partial[blockIdx.x] = total;
	}
}

struct SumPartialsArgs {
	double* out;
	const double* partial;
	int k;
};
KERNEL(sum_partials, SumPartialsArgs) {
	if (blockIdx.x != 0 || threadIdx.x != 0) return;
	double total = 0;
	for (int i = 0; i < a.k; i++) total += a.partial[i];
	a.out[0] = total;
}
