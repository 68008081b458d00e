// Package ssltest provides stand-ins for tests of training code: a tiny
// classifier written in plain Go that satisfies ssl.Model, and a writer of
// small synthetic datasets in the seed's layout.
package ssltest

import (
	"fmt"
	"math"

	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// LogReg is logistic regression on the per-band means of an image, a
// classifier cheap enough to train in unit tests. Its parameters are the
// head of a vit.Params, head.weight (2, D) and head.bias (2), so checkpoints
// of it have the real model's names and shapes; only the first three
// columns of head.weight act (one per band), the rest get zero gradients.
// It copies the parameters at construction, as a graph that owns its
// buffers would: Vars exposes the copies.
//
// Images are flat N x 3 x S x S float32 with S the preset's ImageSize;
// labels are 1 for a lens, 0 for a non-lens; probabilities are P(lens),
// softmax over the two logits (index 1 = lens).
type LogReg struct {
	size   int
	dim    int
	w, b   []float32 // head.weight (2, dim), head.bias (2)
	gw, gb []float32
	// Steps counts TrainStep calls.
	Steps int
}

// NewLogReg returns a LogReg over copies of ps's head parameters.
func NewLogReg(ps *vit.Params) (*LogReg, error) {
	w, b := ps.Get("head.weight"), ps.Get("head.bias")
	if w == nil || b == nil || ps.NumClasses != 2 {
		return nil, fmt.Errorf("ssltest: parameters have no 2-class head (num classes %d)", ps.NumClasses)
	}
	dim := ps.Preset.Dim
	if dim < 3 || len(w.Data) != 2*dim || len(b.Data) != 2 {
		return nil, fmt.Errorf("ssltest: head.weight %v and head.bias %v do not fit dim %d", w.Shape, b.Shape, dim)
	}
	return &LogReg{
		size: ps.Preset.ImageSize, dim: dim,
		w: append([]float32(nil), w.Data...), b: append([]float32(nil), b.Data...),
		gw: make([]float32, len(w.Data)), gb: make([]float32, 2),
	}, nil
}

// means returns the per-band mean of each image.
func (m *LogReg) means(images []float32) ([][3]float64, error) {
	per := 3 * m.size * m.size
	if len(images) == 0 || len(images)%per != 0 {
		return nil, fmt.Errorf("ssltest: %d floats is not a whole number of 3x%dx%d images", len(images), m.size, m.size)
	}
	out := make([][3]float64, len(images)/per)
	plane := m.size * m.size
	for i := range out {
		for c := range 3 {
			s := 0.0
			for _, v := range images[i*per+c*plane : i*per+(c+1)*plane] {
				s += float64(v)
			}
			out[i][c] = s / float64(plane)
		}
	}
	return out, nil
}

// probs returns softmax(logits) of each image's band means.
func (m *LogReg) probs(f [][3]float64) [][2]float64 {
	out := make([][2]float64, len(f))
	for i, x := range f {
		var z [2]float64
		for k := range 2 {
			z[k] = float64(m.b[k])
			for c := range 3 {
				z[k] += float64(m.w[k*m.dim+c]) * x[c]
			}
		}
		mx := max(z[0], z[1])
		e0, e1 := math.Exp(z[0]-mx), math.Exp(z[1]-mx)
		out[i] = [2]float64{e0 / (e0 + e1), e1 / (e0 + e1)}
	}
	return out
}

// TrainStep computes the mean cross-entropy and writes its gradient into
// the Vars' Grad buffers (overwriting them).
func (m *LogReg) TrainStep(images []float32, labels []int) (float64, []float64, error) {
	f, err := m.means(images)
	if err != nil {
		return 0, nil, err
	}
	if len(labels) != len(f) {
		return 0, nil, fmt.Errorf("ssltest: %d images but %d labels", len(f), len(labels))
	}
	p := m.probs(f)
	clear(m.gw)
	clear(m.gb)
	loss, n := 0.0, float64(len(f))
	lens := make([]float64, len(f))
	for i, x := range f {
		y := labels[i]
		if y != 0 && y != 1 {
			return 0, nil, fmt.Errorf("ssltest: label %d is %d", i, y)
		}
		loss -= math.Log(max(p[i][y], 1e-300))
		for k := range 2 {
			d := p[i][k]
			if k == y {
				d--
			}
			d /= n
			m.gb[k] += float32(d)
			for c := range 3 {
				m.gw[k*m.dim+c] += float32(d * x[c])
			}
		}
		lens[i] = p[i][1]
	}
	m.Steps++
	return loss / n, lens, nil
}

// Predict returns P(lens) of each image.
func (m *LogReg) Predict(images []float32) ([]float64, error) {
	f, err := m.means(images)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, p := range m.probs(f) {
		out[i] = p[1]
	}
	return out, nil
}

// Features returns, per image, a D-vector holding the three band means
// followed by zeros.
func (m *LogReg) Features(images []float32) ([][]float32, error) {
	f, err := m.means(images)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(f))
	for i, x := range f {
		out[i] = make([]float32, m.dim)
		for c := range 3 {
			out[i][c] = float32(x[c])
		}
	}
	return out, nil
}

// Vars returns the head parameters with their gradient buffers.
func (m *LogReg) Vars() []optim.Var {
	return []optim.Var{
		{Name: "head.weight", Data: m.w, Grad: m.gw},
		{Name: "head.bias", Data: m.b, Grad: m.gb, NoDecay: true},
	}
}

// Close does nothing; it is there because the real classifier has one.
func (m *LogReg) Close() {}

// Reseed does nothing: the stand-in draws no random numbers.
func (m *LogReg) Reseed(uint64) {}
