package gpu

import (
	"fmt"
	"math"

	"github.com/sslens/sslens/backend/nn/vit"
)

// ViT runs a backbone with its two-class head forward on a Device, in
// evaluation mode: P(lens) and class-token features as nn.Classifier's
// Predict and Features compute them on the CPU. The parameters are copied
// to the device once, in one allocation; activations are sized for Batch
// images and reused call after call.
type ViT struct {
	dev   Device
	k     kernels
	p     vit.Preset
	batch int
	mem   buffers
	param map[string]Ptr // each parameter's device copy
	// Activations for batch images of t = p+1 tokens of width d:
	images, patches, emb Ptr // [b, c, s, s], [b·p, c·ps·ps], [b·p, d]
	x, h, att            Ptr // [b·t, d] residual stream, normed, attention
	qkv, hidden          Ptr // [b·t, 3d], [b·t, mlp·d]
	clsRaw, cls, logits  Ptr // [b, d], [b, d], [b, 2]
}

// ForwardFloats is the device memory of a ViT's activations for batch
// images, in float32 values.
func ForwardFloats(p vit.Preset, batch int) int {
	g := p.Grid(p.ImageSize)
	pt, t, d := g*g, g*g+1, p.Dim
	cols := p.InChans * p.PatchSize * p.PatchSize
	return batch * (p.InChans*p.ImageSize*p.ImageSize + pt*cols + pt*d + 3*t*d + 3*t*d + p.MLPRatio*t*d + 2*d + 2)
}

// NewViT copies ps (a backbone with a two-class head) to dev and
// allocates activations for batch images.
func NewViT(dev Device, ps *vit.Params, batch int) (*ViT, error) {
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
	g := p.Grid(p.ImageSize)
	if shared := attentionShared(g*g+1, p.HeadDim()); shared > dev.MaxShared() {
		return nil, fmt.Errorf("gpu: %s at %d px: attention needs %d bytes of shared memory per block, %s has %d",
			p.Name, p.ImageSize, shared, dev, dev.MaxShared())
	}
	m := &ViT{dev: dev, k: kernels{dev}, p: p, batch: batch, mem: buffers{dev: dev}, param: make(map[string]Ptr)}
	if err := m.upload(ps); err != nil {
		m.mem.free()
		return nil, err
	}
	pt, t, d := g*g, g*g+1, p.Dim
	cols := p.InChans * p.PatchSize * p.PatchSize
	for _, a := range []struct {
		ptr  *Ptr
		n    int
		what string
	}{
		{&m.images, batch * p.InChans * p.ImageSize * p.ImageSize, "images"},
		{&m.patches, batch * pt * cols, "patches"}, {&m.emb, batch * pt * d, "patch embeddings"},
		{&m.x, batch * t * d, "residual stream"}, {&m.h, batch * t * d, "normed tokens"},
		{&m.att, batch * t * d, "attention output"}, {&m.qkv, batch * t * 3 * d, "qkv"},
		{&m.hidden, batch * t * p.MLPRatio * d, "MLP hidden"},
		{&m.clsRaw, batch * d, "class tokens"}, {&m.cls, batch * d, "features"}, {&m.logits, batch * 2, "logits"},
	} {
		ptr, err := m.mem.alloc(a.what, a.n)
		if err != nil {
			m.mem.free()
			return nil, err
		}
		*a.ptr = ptr
	}
	return m, nil
}

// upload copies every parameter into one device allocation.
func (m *ViT) upload(ps *vit.Params) error {
	all := make([]float32, 0, ps.NumElements())
	offset := make(map[string]int, ps.Len())
	for _, p := range ps.List() {
		offset[p.Name] = len(all)
		all = append(all, p.Data...)
	}
	base, err := m.mem.alloc("parameters", len(all))
	if err != nil {
		return err
	}
	for name, off := range offset {
		m.param[name] = base.At(off)
	}
	if err := m.dev.Upload(base, all); err != nil {
		return fmt.Errorf("gpu: parameters: %w", err)
	}
	return nil
}

// Batch is the most images one forward takes.
func (m *ViT) Batch() int { return m.batch }

// imageLen is the number of values of one input image.
func (m *ViT) imageLen() int { return m.p.InChans * m.p.ImageSize * m.p.ImageSize }

// forward runs n <= batch images already in m.images through the backbone
// and head, leaving features in m.cls and logits in m.logits.
func (m *ViT) forward(n int) error {
	p, k := m.p, m.k
	g := p.Grid(p.ImageSize)
	pt, t, d, hid := g*g, g*g+1, p.Dim, p.MLPRatio*p.Dim
	cols := p.InChans * p.PatchSize * p.PatchSize
	rows := n * t
	w := m.param
	eps := float32(vit.LayerNormEps)
	steps := []func() error{
		func() error { return k.patchify(m.patches, m.images, n, p.InChans, p.ImageSize, p.PatchSize) },
		func() error {
			return m.dev.Gemm(false, true, n*pt, d, cols, 1, m.patches, cols, w["patch_embed.proj.weight"], cols, 0, m.emb, d)
		},
		func() error { return k.biasAct(m.emb, w["patch_embed.proj.bias"], n*pt, d, false) },
		func() error { return k.tokens(m.x, m.emb, w["cls_token"], w["pos_embed"], n, pt, d) },
	}
	for i := range p.Depth {
		b := fmt.Sprintf("blocks.%d.", i)
		steps = append(steps,
			func() error { return k.layerNorm(m.h, 0, 0, m.x, w[b+"norm1.weight"], w[b+"norm1.bias"], rows, d, eps) },
			func() error {
				return m.dev.Gemm(false, true, rows, 3*d, d, 1, m.h, d, w[b+"attn.qkv.weight"], d, 0, m.qkv, 3*d)
			},
			func() error {
				if !p.QKVBias {
					return nil
				}
				return k.biasAct(m.qkv, w[b+"attn.qkv.bias"], rows, 3*d, false)
			},
			func() error { return k.attention(m.att, 0, m.qkv, n, t, p.Heads, p.HeadDim()) },
			// x += att·Wᵀ + b: the residual sum is the GEMM's beta = 1.
			func() error {
				return m.dev.Gemm(false, true, rows, d, d, 1, m.att, d, w[b+"attn.proj.weight"], d, 1, m.x, d)
			},
			func() error { return k.biasAct(m.x, w[b+"attn.proj.bias"], rows, d, false) },
			func() error { return k.layerNorm(m.h, 0, 0, m.x, w[b+"norm2.weight"], w[b+"norm2.bias"], rows, d, eps) },
			func() error {
				return m.dev.Gemm(false, true, rows, hid, d, 1, m.h, d, w[b+"mlp.fc1.weight"], d, 0, m.hidden, hid)
			},
			func() error { return k.biasAct(m.hidden, w[b+"mlp.fc1.bias"], rows, hid, true) },
			func() error {
				return m.dev.Gemm(false, true, rows, d, hid, 1, m.hidden, hid, w[b+"mlp.fc2.weight"], hid, 1, m.x, d)
			},
			func() error { return k.biasAct(m.x, w[b+"mlp.fc2.bias"], rows, d, false) },
		)
	}
	steps = append(steps,
		func() error { return k.gatherCLS(m.clsRaw, m.x, n, t, d) },
		func() error { return k.layerNorm(m.cls, 0, 0, m.clsRaw, w["norm.weight"], w["norm.bias"], n, d, eps) },
		func() error {
			return m.dev.Gemm(false, true, n, 2, d, 1, m.cls, d, w["head.weight"], d, 0, m.logits, 2)
		},
		func() error { return k.biasAct(m.logits, w["head.bias"], n, 2, false) },
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return m.dev.Sync()
}

// each runs images (whole images of the preset's size) through forward in
// chunks of the batch size and calls read with each chunk's image count.
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
		if err := m.forward(hi - lo); err != nil {
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
			out = append(out, 1/(1+math.Exp(float64(logits[2*i])-float64(logits[2*i+1]))))
		}
		return nil
	})
	return out, err
}

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
