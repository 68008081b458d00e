package gpu

import (
	"fmt"
	"math"

	"github.com/sslens/sslens/backend/nn/vit"
)

// ViT is a backbone with its two-class head on a Device: the parameters in
// one device allocation (gradients in another of the same layout when it
// trains) and activations for Batch images, reused call after call.
//
// In evaluation mode every block computes in one set of buffers, the
// residual stream updated in place. In training mode each block keeps its
// own (what its backward reads), attention dropout and drop path are on,
// and the masks are recomputed in the backward from counter-based draws
// rather than stored.
type ViT struct {
	dev   Device
	k     kernels
	p     vit.Preset
	batch int
	train bool
	mem   buffers
	param map[string]Ptr // each parameter's device copy
	grad  map[string]Ptr // and its gradient (training only)
	all   Ptr            // the parameters' one allocation
	host  *vit.Params    // what was uploaded

	// images [b, c, s, s], patches [b·p, c·ps·ps], emb [b·p, d].
	images, patches, emb Ptr
	// stream[i] [b·t, d] is the residual stream entering block i,
	// stream[Depth] the last block's output: Depth+1 buffers in training,
	// one (updated in place) in evaluation.
	stream           []Ptr
	blocks           []blockActs // per block in training, one set shared in evaluation
	clsRaw, cls      Ptr         // [b, d] class tokens before and after the final norm
	clsMean, clsRstd Ptr         // [b]
	logits           Ptr         // [b, 2]
}

// blockActs are one block's activations for b images of t tokens.
type blockActs struct {
	mean1, rstd1, mean2, rstd2 Ptr // [b·t]
	h1, att, branch, mid, h2   Ptr // [b·t, d]: norm1(x), attention, a branch before its residual, x after attention, norm2(mid)
	qkv                        Ptr // [b·t, 3d]
	probs                      Ptr // [b·h·t·t]
	u, g                       Ptr // [b·t, mlp·d]: fc1's output, GELU(u)
	keep1, keep2               Ptr // [b] drop path factors of the two branches
}

// shape is a ViT's sizes for n images.
type shape struct {
	n, c, s, ps, g, pt, t, d, h, dh, hid, cols, rows int
}

func (m *ViT) shape(n int) shape {
	p := m.p
	g := p.Grid(p.ImageSize)
	return shape{n: n, c: p.InChans, s: p.ImageSize, ps: p.PatchSize, g: g, pt: g * g, t: g*g + 1, d: p.Dim,
		h: p.Heads, dh: p.HeadDim(), hid: p.MLPRatio * p.Dim, cols: p.InChans * p.PatchSize * p.PatchSize, rows: n * (g*g + 1)}
}

// blockFloats is the device memory of one block's activations in floats.
func (s shape) blockFloats() int {
	return 4*s.rows + 5*s.rows*s.d + 3*s.rows*s.d + s.n*s.h*s.t*s.t + 2*s.rows*s.hid + 2*s.n
}

// ActivationFloats is the device memory of a ViT's activations for batch
// images, in floats: one block's set in evaluation, Depth of them in
// training.
func ActivationFloats(p vit.Preset, batch int, train bool) int {
	s := (&ViT{p: p}).shape(batch)
	blocks := 1
	if train {
		blocks = p.Depth
	}
	streams := 1
	if train {
		streams = p.Depth + 1
	}
	return s.n*s.c*s.s*s.s + s.n*s.pt*(s.cols+s.d) + streams*s.rows*s.d + blocks*s.blockFloats() + 2*s.n*s.d + 4*s.n
}

// MemoryPlan is the device memory in bytes a ViT of preset p with
// numParams parameters takes for batch images: parameters and activations
// in evaluation; in training also the gradients, an optimiser's decay mask
// and two moments, the backward's buffers and every block's activations.
func MemoryPlan(p vit.Preset, numParams, batch int, train bool) int64 {
	floats := numParams + ActivationFloats(p, batch, train)
	if train {
		s := (&ViT{p: p}).shape(batch)
		// The optimiser's norm and its partial sums: at most 4096 blocks.
		floats += 4*numParams + 2 + 2*4096 + 8*s.rows*s.d + s.rows*s.hid + s.n*s.pt*s.d + 2*s.n*s.d + 6*s.n + s.rows
	}
	return 4 * int64(floats)
}

// FitBatch is the largest of batch, batch/2 (rounded up), batch/4, ... down
// to 1 whose training step MemoryPlan fits in dev's free memory: the
// chunk a Classifier for ps runs a batch in (Options.Batch). It is batch
// when the device does not say.
func FitBatch(dev Device, ps *vit.Params, batch int) int {
	free, _, err := dev.MemInfo()
	if err != nil {
		return batch
	}
	for batch > 1 && MemoryPlan(ps.Preset, ps.NumElements(), batch, true) > int64(free) {
		batch = (batch + 1) / 2
	}
	return batch
}

// NewViT copies ps (a backbone with a two-class head) to dev and
// allocates evaluation activations for batch images.
func NewViT(dev Device, ps *vit.Params, batch int) (*ViT, error) {
	return newViT(dev, ps, batch, false)
}

func newViT(dev Device, ps *vit.Params, batch int, train bool) (*ViT, error) {
	if ps.NumClasses != 2 {
		return nil, fmt.Errorf("gpu: parameter set has %d classes, want 2 (non-lens, lens)", ps.NumClasses)
	}
	if batch <= 0 {
		return nil, fmt.Errorf("gpu: batch size %d, want > 0", batch)
	}
	p := ps.Preset
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	m := &ViT{dev: dev, k: kernels{dev}, p: p, batch: batch, train: train, mem: buffers{dev: dev},
		param: make(map[string]Ptr), host: ps}
	if free, _, err := dev.MemInfo(); err == nil {
		if need := MemoryPlan(p, ps.NumElements(), batch, train); need > int64(free) {
			return nil, fmt.Errorf("gpu: %s at batch %d needs %.1f GiB of device memory, %s has %.1f GiB free: use a smaller batch",
				p.Name, batch, float64(need)/(1<<30), dev, float64(free)/(1<<30))
		}
	}
	s := m.shape(batch)
	for _, need := range []int{attentionShared(s.t, s.dh), attentionBackwardShared(s.t, s.dh)} {
		if need > dev.MaxShared() {
			return nil, fmt.Errorf("gpu: %s at %d px: attention needs %d bytes of shared memory per block, %s has %d",
				p.Name, p.ImageSize, need, dev, dev.MaxShared())
		}
	}
	if err := m.allocate(ps, s); err != nil {
		m.mem.free()
		return nil, err
	}
	if err := m.Upload(); err != nil {
		m.mem.free()
		return nil, err
	}
	return m, nil
}

// allocate reserves the parameters, gradients and activations.
func (m *ViT) allocate(ps *vit.Params, s shape) error {
	var err error
	alloc := func(what string, n int) Ptr {
		if err != nil {
			return 0
		}
		var p Ptr
		p, err = m.mem.alloc(what, n)
		return p
	}
	m.all = alloc("parameters", ps.NumElements())
	var grads Ptr
	if m.train {
		grads = alloc("gradients", ps.NumElements())
		m.grad = make(map[string]Ptr)
	}
	off := 0
	for _, q := range ps.List() {
		m.param[q.Name] = m.all.At(off)
		if m.train {
			m.grad[q.Name] = grads.At(off)
		}
		off += len(q.Data)
	}
	m.images = alloc("images", s.n*s.c*s.s*s.s)
	m.patches = alloc("patches", s.n*s.pt*s.cols)
	m.emb = alloc("patch embeddings", s.n*s.pt*s.d)
	blocks := 1
	m.stream = []Ptr{alloc("tokens", s.rows*s.d)}
	if m.train {
		blocks = m.p.Depth
		for range m.p.Depth {
			m.stream = append(m.stream, alloc("residual stream", s.rows*s.d))
		}
	}
	m.blocks = make([]blockActs, blocks)
	for i := range m.blocks {
		b := &m.blocks[i]
		what := fmt.Sprintf("block %d activations", i)
		for _, f := range []*Ptr{&b.mean1, &b.rstd1, &b.mean2, &b.rstd2} {
			*f = alloc(what, s.rows)
		}
		for _, f := range []*Ptr{&b.h1, &b.att, &b.branch, &b.mid, &b.h2} {
			*f = alloc(what, s.rows*s.d)
		}
		b.qkv = alloc(what, 3*s.rows*s.d)
		b.probs = alloc(what, s.n*s.h*s.t*s.t)
		b.u, b.g = alloc(what, s.rows*s.hid), alloc(what, s.rows*s.hid)
		b.keep1, b.keep2 = alloc(what, s.n), alloc(what, s.n)
	}
	m.clsRaw, m.cls = alloc("class tokens", s.n*s.d), alloc("features", s.n*s.d)
	m.clsMean, m.clsRstd = alloc("final norm", s.n), alloc("final norm", s.n)
	m.logits = alloc("logits", s.n*2)
	return err
}

// Upload copies the host parameters (the vit.Params the ViT was built
// from) to the device: after an optimiser changed them.
func (m *ViT) Upload() error {
	all := make([]float32, 0, m.host.NumElements())
	for _, q := range m.host.List() {
		all = append(all, q.Data...)
	}
	if err := m.dev.Upload(m.all, all); err != nil {
		return fmt.Errorf("gpu: parameters: %w", err)
	}
	return nil
}

// imageLen is the number of values of one input image.
func (m *ViT) imageLen() int { return m.p.InChans * m.p.ImageSize * m.p.ImageSize }

// dropout is one training forward's randomness: the seed of its step and
// the batch index of its first image.
type dropout struct {
	seed  uint64
	first int
}

// streamSeed derives the seed of draw stream k (attention dropout, drop
// path of either branch, per block) from a step's seed.
func streamSeed(step uint64, k int) uint64 { return mix64(step ^ mix64(uint64(k)+0x9E3779B97F4A7C15)) }

// mix64 is splitmix64's finaliser, as kernels.cu's.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// runner runs launches in turn until the first error, which it keeps.
type runner struct{ err error }

func (r *runner) do(f func() error) {
	if r.err == nil {
		r.err = f()
	}
}

// streamAt is the residual stream buffer entering block i (i = Depth: the
// last block's output).
func (m *ViT) streamAt(i int) Ptr { return m.stream[min(i, len(m.stream)-1)] }

// acts is block i's activation set.
func (m *ViT) acts(i int) blockActs { return m.blocks[min(i, len(m.blocks)-1)] }

// forward runs n <= batch images already in m.images through the backbone
// and head, leaving features in m.cls and logits in m.logits. drop is nil
// in evaluation; in training it seeds the masks.
func (m *ViT) forward(n int, drop *dropout) error {
	s, k, w := m.shape(n), m.k, m.param
	eps := float32(vit.LayerNormEps)
	var run runner
	run.do(func() error { return k.patchify(m.patches, m.images, n, s.c, s.s, s.ps) })
	run.do(func() error {
		return m.dev.Gemm(false, true, n*s.pt, s.d, s.cols, 1, m.patches, s.cols, w["patch_embed.proj.weight"], s.cols, 0, m.emb, s.d)
	})
	run.do(func() error { return k.addBias(m.emb, w["patch_embed.proj.bias"], n*s.pt, s.d) })
	run.do(func() error { return k.tokens(m.streamAt(0), m.emb, w["cls_token"], w["pos_embed"], n, s.pt, s.d) })
	for i := range m.p.Depth {
		run.do(func() error { return m.block(i, s, drop) })
	}
	last := m.streamAt(m.p.Depth)
	run.do(func() error { return k.gatherCLS(m.clsRaw, last, n, s.t, s.d) })
	run.do(func() error {
		return k.layerNorm(m.cls, m.clsMean, m.clsRstd, m.clsRaw, w["norm.weight"], w["norm.bias"], n, s.d, eps)
	})
	run.do(func() error {
		return m.dev.Gemm(false, true, n, 2, s.d, 1, m.cls, s.d, w["head.weight"], s.d, 0, m.logits, 2)
	})
	run.do(func() error { return k.addBias(m.logits, w["head.bias"], n, 2) })
	return run.err
}

// block runs transformer block i from streamAt(i) into streamAt(i+1):
// x + drop_path(attn(norm1(x))), then + drop_path(mlp(norm2(·))).
func (m *ViT) block(i int, s shape, drop *dropout) error {
	k, w, a := m.k, m.param, m.acts(i)
	x, out := m.streamAt(i), m.streamAt(i+1)
	b := fmt.Sprintf("blocks.%d.", i)
	eps := float32(vit.LayerNormEps)
	var keep1, keep2 Ptr // 0: branches kept
	var attn attnDropout
	var run runner
	if drop != nil {
		attn = attnDropout{seed: streamSeed(drop.seed, 3*i), first: drop.first, p: float32(m.p.AttnDrop)}
		if p := m.p.DropPathAt(i); p > 0 {
			keep1, keep2 = a.keep1, a.keep2
			run.do(func() error { return k.keepMask(keep1, streamSeed(drop.seed, 3*i+1), s.n, drop.first, float32(p)) })
			run.do(func() error { return k.keepMask(keep2, streamSeed(drop.seed, 3*i+2), s.n, drop.first, float32(p)) })
		}
	}
	run.do(func() error {
		return k.layerNorm(a.h1, a.mean1, a.rstd1, x, w[b+"norm1.weight"], w[b+"norm1.bias"], s.rows, s.d, eps)
	})
	run.do(func() error {
		return m.dev.Gemm(false, true, s.rows, 3*s.d, s.d, 1, a.h1, s.d, w[b+"attn.qkv.weight"], s.d, 0, a.qkv, 3*s.d)
	})
	if m.p.QKVBias {
		run.do(func() error { return k.addBias(a.qkv, w[b+"attn.qkv.bias"], s.rows, 3*s.d) })
	}
	run.do(func() error { return k.attention(a.att, a.probs, a.qkv, s.n, s.t, s.h, s.dh, attn) })
	run.do(func() error {
		return m.dev.Gemm(false, true, s.rows, s.d, s.d, 1, a.att, s.d, w[b+"attn.proj.weight"], s.d, 0, a.branch, s.d)
	})
	run.do(func() error { return k.residual(a.mid, x, a.branch, w[b+"attn.proj.bias"], keep1, s.rows, s.d, s.t) })
	run.do(func() error {
		return k.layerNorm(a.h2, a.mean2, a.rstd2, a.mid, w[b+"norm2.weight"], w[b+"norm2.bias"], s.rows, s.d, eps)
	})
	run.do(func() error {
		return m.dev.Gemm(false, true, s.rows, s.hid, s.d, 1, a.h2, s.d, w[b+"mlp.fc1.weight"], s.d, 0, a.u, s.hid)
	})
	run.do(func() error { return k.biasGELU(a.g, a.u, w[b+"mlp.fc1.bias"], s.rows, s.hid) })
	run.do(func() error {
		return m.dev.Gemm(false, true, s.rows, s.d, s.hid, 1, a.g, s.hid, w[b+"mlp.fc2.weight"], s.hid, 0, a.branch, s.d)
	})
	run.do(func() error { return k.residual(out, a.mid, a.branch, w[b+"mlp.fc2.bias"], keep2, s.rows, s.d, s.t) })
	return run.err
}

// each runs images (whole images of the preset's size) through the
// evaluation forward in chunks of the batch size and calls read with each
// chunk's image count.
func (m *ViT) each(images []float32, read func(n int) error) error {
	per := m.imageLen()
	if len(images)%per != 0 {
		return fmt.Errorf("gpu: %d image values are not whole images of %d", len(images), per)
	}
	total := len(images) / per
	for lo := 0; lo < total; lo += m.batch {
		hi := min(lo+m.batch, total)
		if err := m.dev.Upload(m.images, images[lo*per:hi*per]); err != nil {
			return fmt.Errorf("gpu: images: %w", err)
		}
		if err := m.forward(hi-lo, nil); err != nil {
			return fmt.Errorf("gpu: forward on %s: %w", m.dev, err)
		}
		if err := m.dev.Sync(); err != nil {
			return fmt.Errorf("gpu: forward on %s: %w", m.dev, err)
		}
		if err := read(hi - lo); err != nil {
			return err
		}
	}
	return nil
}

// Predict returns each image's P(lens).
func (m *ViT) Predict(images []float32) ([]float64, error) {
	out := make([]float64, 0, len(images)/m.imageLen())
	logits := make([]float32, 2*m.batch)
	err := m.each(images, func(n int) error {
		if err := m.dev.Download(logits[:2*n], m.logits); err != nil {
			return err
		}
		for i := range n {
			out = append(out, lensProb(logits[2*i], logits[2*i+1]))
		}
		return nil
	})
	return out, err
}

// lensProb is softmax over the two logits, class 1 the lens.
func lensProb(l0, l1 float32) float64 { return 1 / (1 + math.Exp(float64(l0)-float64(l1))) }

// Features returns each image's class token after the final norm.
func (m *ViT) Features(images []float32) ([][]float32, error) {
	d := m.p.Dim
	out := make([][]float32, 0, len(images)/m.imageLen())
	err := m.each(images, func(n int) error {
		flat := make([]float32, n*d)
		if err := m.dev.Download(flat, m.cls); err != nil {
			return err
		}
		for i := range n {
			out = append(out, flat[i*d:(i+1)*d:(i+1)*d])
		}
		return nil
	})
	return out, err
}

// Close frees the device memory; the Device stays open.
func (m *ViT) Close() error { return m.mem.free() }
