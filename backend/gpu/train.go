package gpu

import (
	"errors"
	"fmt"

	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Options configure a Classifier, as nn.Options do the CPU one.
type Options struct {
	// Batch is the most images one forward takes: TrainStep splits larger
	// batches and sums their gradients.
	Batch int
	// Seed seeds attention dropout and drop path.
	Seed uint64
	// FreezeBackbone trains the head alone, the backbone in evaluation mode.
	FreezeBackbone bool
}

// Classifier trains and runs a ViT classifier on a Device: the GPU
// counterpart of nn.Classifier, an ssl.Model. With a host optimiser its
// parameters stay the host vit.Params it was built from, which the
// optimiser updates between steps: every call copies them to the device
// first, and TrainStep leaves the gradient in the Vars' Grad buffers. With
// its own Optimizer (NewOptimizer) they stay on the device instead, and a
// step is device work alone. Dropout and drop path draw from
// kernels.cu's counter-based generator, not the CPU engine's PCG streams:
// the two engines take equal steps only with both rates at zero.
type Classifier struct {
	m      *ViT
	opt    Options
	vars   []optim.Var
	step   uint64
	closed bool
	// resident is set once an Optimizer steps on the device: the
	// parameters live there, and the host copy is refreshed by PullParams.
	resident bool
	// err is a device error an Optimizer could not return, reported by
	// the next call.
	err error
	// Backward buffers for Batch images of t tokens.
	dx, dh, dbranch, datt Ptr // [b·t, d]
	dqkv                  Ptr // [b·t, 3d]
	dhidden               Ptr // [b·t, mlp·d]
	dpatches              Ptr // [b·p, d]
	dcls, dclsRaw         Ptr // [b, d]
	dlogits, probs        Ptr // [b, 2]
	loss, labels          Ptr // [b]
	prod                  Ptr // [b·t, d]: LayerNorm weight-gradient terms
	ones                  Ptr // [b·t] of 1: column sums as GEMMs
}

// NewClassifier copies ps (a backbone with a two-class head) to dev and
// allocates training activations for opt.Batch images.
func NewClassifier(dev Device, ps *vit.Params, opt Options) (*Classifier, error) {
	m, err := newViT(dev, ps, opt.Batch, true)
	if err != nil {
		return nil, err
	}
	c := &Classifier{m: m, opt: opt}
	for _, p := range ps.List() {
		if opt.FreezeBackbone && !isHead(p.Name) {
			continue
		}
		c.vars = append(c.vars, optim.Var{Name: p.Name, Data: p.Data, Grad: make([]float32, len(p.Data)), NoDecay: p.NoDecay})
	}
	s := m.shape(opt.Batch)
	for _, b := range []struct {
		ptr *Ptr
		n   int
	}{
		{&c.dx, s.rows * s.d}, {&c.dh, s.rows * s.d}, {&c.dbranch, s.rows * s.d}, {&c.datt, s.rows * s.d},
		{&c.dqkv, 3 * s.rows * s.d}, {&c.dhidden, s.rows * s.hid}, {&c.dpatches, s.n * s.pt * s.d},
		{&c.dcls, s.n * s.d}, {&c.dclsRaw, s.n * s.d}, {&c.dlogits, 2 * s.n}, {&c.probs, 2 * s.n},
		{&c.loss, s.n}, {&c.labels, s.n}, {&c.prod, s.rows * s.d}, {&c.ones, s.rows},
	} {
		if *b.ptr, err = m.mem.alloc("backward", b.n); err != nil {
			m.Close()
			return nil, err
		}
	}
	if err := m.k.fill(c.ones, s.rows, 1); err != nil {
		m.Close()
		return nil, err
	}
	return c, nil
}

func isHead(name string) bool { return name == "head.weight" || name == "head.bias" }

var errClosed = errors.New("gpu: classifier is closed")

// Vars returns the trainable parameters: all, or the head's with
// FreezeBackbone. Grad is the classifier's own buffer, overwritten by
// every TrainStep.
func (c *Classifier) Vars() []optim.Var { return append([]optim.Var(nil), c.vars...) }

// Reseed numbers the next training step: its masks are those of step
// number step of any classifier with the same seed.
func (c *Classifier) Reseed(step uint64) { c.step = step }

// Predict returns each image's P(lens), in evaluation mode.
func (c *Classifier) Predict(images []float32) ([]float64, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	return c.m.Predict(images)
}

// Features returns each image's class token after the final norm.
func (c *Classifier) Features(images []float32) ([][]float32, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	return c.m.Features(images)
}

// ready fails a closed classifier or one whose optimiser failed, and
// copies the host parameters to the device unless they live there.
func (c *Classifier) ready() error {
	switch {
	case c.closed:
		return errClosed
	case c.err != nil:
		return c.err
	case c.resident:
		return nil
	}
	return c.m.Upload()
}

// TrainStep runs forward and backward in training mode on len(labels)
// images, leaves the gradient of the mean cross-entropy in the Vars' Grad
// buffers and returns the loss and each image's P(lens). A batch larger
// than Options.Batch runs in chunks whose gradients add up on the device.
func (c *Classifier) TrainStep(images []float32, labels []int) (loss float64, lensProb []float64, err error) {
	m := c.m
	n, per := len(labels), m.imageLen()
	if n == 0 || len(images) != n*per {
		return 0, nil, fmt.Errorf("gpu: train step: %d image values for %d labels, want %d per image", len(images), n, per)
	}
	if err := c.ready(); err != nil {
		return 0, nil, err
	}
	defer func() { c.step++ }()
	if err := m.k.fill(m.gradBase(), m.host.NumElements(), 0); err != nil {
		return 0, nil, err
	}
	seed := streamSeed(c.opt.Seed, int(c.step))
	lensProb = make([]float64, 0, n)
	lossRows, probs, lab := make([]float32, m.batch), make([]float32, 2*m.batch), make([]float32, m.batch)
	for lo := 0; lo < n; lo += m.batch {
		k := min(m.batch, n-lo)
		for i, l := range labels[lo : lo+k] {
			if l != 0 && l != 1 {
				return 0, nil, fmt.Errorf("gpu: train step: label %d of image %d, want 0 or 1", l, lo+i)
			}
			lab[i] = float32(l)
		}
		if err := m.dev.Upload(m.images, images[lo*per:(lo+k)*per]); err != nil {
			return 0, nil, err
		}
		if err := m.dev.Upload(c.labels, lab[:k]); err != nil {
			return 0, nil, err
		}
		var drop *dropout
		if !c.opt.FreezeBackbone {
			drop = &dropout{seed: seed, first: lo}
		}
		if err := m.forward(k, drop); err != nil {
			return 0, nil, fmt.Errorf("gpu: train step forward on %s: %w", m.dev, err)
		}
		if err := c.backward(k, n, drop); err != nil {
			return 0, nil, fmt.Errorf("gpu: train step backward on %s: %w", m.dev, err)
		}
		if err := m.dev.Sync(); err != nil {
			return 0, nil, fmt.Errorf("gpu: train step on %s: %w", m.dev, err)
		}
		if err := m.dev.Download(lossRows[:k], c.loss); err != nil {
			return 0, nil, err
		}
		if err := m.dev.Download(probs[:2*k], c.probs); err != nil {
			return 0, nil, err
		}
		for i := range k {
			loss += float64(lossRows[i]) / float64(n)
			lensProb = append(lensProb, float64(probs[2*i+1]))
		}
	}
	if c.resident {
		return loss, lensProb, nil
	}
	for _, v := range c.vars {
		if err := m.dev.Download(v.Grad, m.grad[v.Name]); err != nil {
			return 0, nil, err
		}
	}
	return loss, lensProb, nil
}

// gradBase is the start of the gradients' one allocation.
func (m *ViT) gradBase() Ptr { return m.grad[m.host.List()[0].Name] }

// backward adds to the gradients those of (1/total)·Σ cross-entropy over
// the k images the last forward ran, with that forward's dropout.
func (c *Classifier) backward(k, total int, drop *dropout) error {
	m := c.m
	s, kn, w, g := m.shape(k), m.k, m.param, m.grad
	var run runner
	run.do(func() error {
		return kn.softmaxCE(c.probs, c.loss, c.dlogits, m.logits, c.labels, k, 2, 1/float32(total))
	})
	run.do(func() error {
		return m.dev.Gemm(true, false, 2, s.d, k, 1, c.dlogits, 2, m.cls, s.d, 1, g["head.weight"], s.d)
	})
	run.do(func() error { return c.colSum(g["head.bias"], c.dlogits, k, 2) })
	if c.opt.FreezeBackbone {
		return run.err
	}
	run.do(func() error {
		return m.dev.Gemm(false, false, k, s.d, 2, 1, c.dlogits, 2, w["head.weight"], s.d, 0, c.dcls, s.d)
	})
	run.do(func() error {
		return kn.layerNormBackward(c.dclsRaw, c.dcls, m.clsRaw, m.clsMean, m.clsRstd, w["norm.weight"], k, s.d, false)
	})
	run.do(func() error {
		return c.layerNormParamGrads(g["norm.weight"], g["norm.bias"], c.dcls, m.clsRaw, m.clsMean, m.clsRstd, k, s.d)
	})
	run.do(func() error { return kn.scatterCLS(c.dx, c.dclsRaw, k, s.t, s.d) })
	for i := m.p.Depth - 1; i >= 0; i-- {
		run.do(func() error { return c.blockBackward(i, s, drop) })
	}
	run.do(func() error { return kn.tokensBackward(c.dpatches, g["pos_embed"], g["cls_token"], c.dx, k, s.pt, s.d) })
	run.do(func() error {
		return m.dev.Gemm(true, false, s.d, s.cols, k*s.pt, 1, c.dpatches, s.d, m.patches, s.cols, 1, g["patch_embed.proj.weight"], s.cols)
	})
	run.do(func() error { return c.colSum(g["patch_embed.proj.bias"], c.dpatches, k*s.pt, s.d) })
	return run.err
}

// blockBackward turns c.dx from the gradient at block i's output into
// that at its input, adding the block's parameter gradients.
func (c *Classifier) blockBackward(i int, s shape, drop *dropout) error {
	m := c.m
	kn, w, g, a := m.k, m.param, m.grad, m.acts(i)
	b := fmt.Sprintf("blocks.%d.", i)
	x := m.streamAt(i)
	var keep1, keep2 Ptr
	attn := attnDropout{seed: streamSeed(drop.seed, 3*i), first: drop.first, p: float32(m.p.AttnDrop)}
	if m.p.DropPathAt(i) > 0 {
		keep1, keep2 = a.keep1, a.keep2
	}
	var run runner
	gemm := func(transA, transB bool, mm, n, k int, a Ptr, lda int, b Ptr, ldb int, beta float32, out Ptr, ldc int) {
		run.do(func() error { return m.dev.Gemm(transA, transB, mm, n, k, 1, a, lda, b, ldb, beta, out, ldc) })
	}
	// MLP branch: out = mid + keep2·(fc2(gelu(fc1(norm2(mid))))).
	run.do(func() error { return kn.scaleRows(c.dbranch, c.dx, keep2, s.rows, s.d, s.t) })
	gemm(true, false, s.d, s.hid, s.rows, c.dbranch, s.d, a.g, s.hid, 1, g[b+"mlp.fc2.weight"], s.hid)
	run.do(func() error { return c.colSum(g[b+"mlp.fc2.bias"], c.dbranch, s.rows, s.d) })
	gemm(false, false, s.rows, s.hid, s.d, c.dbranch, s.d, w[b+"mlp.fc2.weight"], s.hid, 0, c.dhidden, s.hid)
	run.do(func() error { return kn.geluBackward(c.dhidden, a.u, s.rows*s.hid) })
	gemm(true, false, s.hid, s.d, s.rows, c.dhidden, s.hid, a.h2, s.d, 1, g[b+"mlp.fc1.weight"], s.d)
	run.do(func() error { return c.colSum(g[b+"mlp.fc1.bias"], c.dhidden, s.rows, s.hid) })
	gemm(false, false, s.rows, s.d, s.hid, c.dhidden, s.hid, w[b+"mlp.fc1.weight"], s.d, 0, c.dh, s.d)
	run.do(func() error {
		return c.layerNormParamGrads(g[b+"norm2.weight"], g[b+"norm2.bias"], c.dh, a.mid, a.mean2, a.rstd2, s.rows, s.d)
	})
	run.do(func() error {
		return kn.layerNormBackward(c.dx, c.dh, a.mid, a.mean2, a.rstd2, w[b+"norm2.weight"], s.rows, s.d, true)
	})
	// Attention branch: mid = x + keep1·(proj(attn(qkv(norm1(x))))).
	run.do(func() error { return kn.scaleRows(c.dbranch, c.dx, keep1, s.rows, s.d, s.t) })
	gemm(true, false, s.d, s.d, s.rows, c.dbranch, s.d, a.att, s.d, 1, g[b+"attn.proj.weight"], s.d)
	run.do(func() error { return c.colSum(g[b+"attn.proj.bias"], c.dbranch, s.rows, s.d) })
	gemm(false, false, s.rows, s.d, s.d, c.dbranch, s.d, w[b+"attn.proj.weight"], s.d, 0, c.datt, s.d)
	run.do(func() error { return kn.attentionBackward(c.dqkv, c.datt, a.qkv, a.probs, s.n, s.t, s.h, s.dh, attn) })
	gemm(true, false, 3*s.d, s.d, s.rows, c.dqkv, 3*s.d, a.h1, s.d, 1, g[b+"attn.qkv.weight"], s.d)
	if m.p.QKVBias {
		run.do(func() error { return c.colSum(g[b+"attn.qkv.bias"], c.dqkv, s.rows, 3*s.d) })
	}
	gemm(false, false, s.rows, s.d, 3*s.d, c.dqkv, 3*s.d, w[b+"attn.qkv.weight"], s.d, 0, c.dh, s.d)
	run.do(func() error {
		return c.layerNormParamGrads(g[b+"norm1.weight"], g[b+"norm1.bias"], c.dh, x, a.mean1, a.rstd1, s.rows, s.d)
	})
	run.do(func() error {
		return kn.layerNormBackward(c.dx, c.dh, x, a.mean1, a.rstd1, w[b+"norm1.weight"], s.rows, s.d, true)
	})
	return run.err
}

// colSum adds the column sums of x [rows, cols] to out: a GEMM with the
// ones vector, which spreads the rows across the device where a thread
// per column would leave most of it idle.
func (c *Classifier) colSum(out, x Ptr, rows, cols int) error {
	return c.m.dev.Gemm(true, false, cols, 1, rows, 1, x, cols, c.ones, 1, 1, out, 1)
}

// layerNormParamGrads adds Σ_r dy·x̂ to dgamma and Σ_r dy to dbeta for the
// LayerNorm whose input x [rows, d] had mean and rstd per row.
func (c *Classifier) layerNormParamGrads(dgamma, dbeta, dy, x, mean, rstd Ptr, rows, d int) error {
	if err := c.m.k.normalizedProduct(c.prod, dy, x, mean, rstd, rows, d); err != nil {
		return err
	}
	if err := c.colSum(dgamma, c.prod, rows, d); err != nil {
		return err
	}
	return c.colSum(dbeta, dy, rows, d)
}

// Close frees the device memory; the classifier cannot be used afterwards.
func (c *Classifier) Close() {
	c.m.Close()
	c.closed = true
}
