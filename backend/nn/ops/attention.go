package ops

import (
	"math"
	"math/rand/v2"
)

// attnShape describes multi-head self-attention over n sequences of t tokens
// with h heads of width dh; the model width is d = h·dh.
type attnShape struct{ n, t, h, dh int }

func (s attnShape) d() int     { return s.h * s.dh }
func (s attnShape) tasks() int { return s.n * s.h }

// scale is timm's Dh^-0.5.
func (s attnShape) scale() float64 { return 1 / math.Sqrt(float64(s.dh)) }

// eachHead calls f across cores once per task = sequence·h + head, with
// where that head's columns start in a [n*t, 3d] qkv buffer (its query; key
// and value follow at +d and +2d) and in a [n*t, d] buffer of head outputs.
// cost is one task's operations, for the split across cores.
func (s attnShape) eachHead(cost int, f func(task, qkvAt, outAt int)) {
	parallelFor(s.tasks(), grainFor(cost), func(lo, hi int) {
		for task := lo; task < hi; task++ {
			n, h := task/s.h, task%s.h
			f(task, n*s.t*3*s.d()+h*s.dh, n*s.t*s.d()+h*s.dh)
		}
	})
}

// qkvOf splits a [n*t, 3d] buffer at a head's start (see heads) into its
// query, key and value columns, each with row stride 3d.
func qkvOf[T Float](buf []T, at, d int) (q, k, v []T) {
	return buf[at:], buf[at+d:], buf[at+2*d:]
}

// attnDrop is attention-probability dropout for one forward: rate p, the
// seed of this step's masks and the batch index of the forward's first
// sequence. Sequence n's head h draws from its own PCG stream
// (seed, (first+n)·H+h), so the masks depend neither on how tasks are split
// across cores nor on how the batch is split into forwards.
type attnDrop struct {
	p     float64
	seed  uint64
	first int
}

func (a attnDrop) active() bool { return a.p > 0 }

// attentionForward computes softmax(q·kᵀ·scale)·v per (sequence, head) from
// qkv[n*t, 3d], writing heads side by side into out[n*t, d]. probs[n*h*t*t]
// keeps the softmax probabilities for the backward. With dropout active, each
// probability is kept with chance 1-p and scaled by 1/(1-p): mask[n*h*t*t]
// receives that factor (0 or 1/(1-p)) and dropped[n*h*t*t] the product used
// in place of probs; both are untouched otherwise.
func attentionForward[T Float](out, probs, mask, dropped, qkv []T, s attnShape, drop attnDrop) {
	t, d, dh, tt := s.t, s.d(), s.dh, s.t*s.t
	ld := 3 * d
	scale := T(s.scale())
	s.eachHead(4*tt*dh, func(task, at, outAt int) {
		q, k, v := qkvOf(qkv, at, d)
		p := probs[task*tt : (task+1)*tt]
		gemm(false, true, t, t, dh, scale, q, ld, k, ld, 0, p, t)
		for i := 0; i < t; i++ {
			softmaxRow(p[i*t : (i+1)*t])
		}
		a := p
		if drop.active() {
			m, pd := mask[task*tt:(task+1)*tt], dropped[task*tt:(task+1)*tt]
			var src rand.PCG
			src.Seed(drop.seed, uint64(drop.first*s.h+task))
			keepMask(m, drop.p, &src)
			for i, w := range p {
				pd[i] = w * m[i]
			}
			a = pd
		}
		gemm(false, false, t, dh, t, 1, a, t, v, ld, 0, out[outAt:], d)
	})
}

// attentionBackward sets dqkv[n*t, 3d] from dout[n*t, d], given the forward's
// qkv, probs, and (when drop is active) mask and dropped. scratch holds
// n*h*t*t values.
func attentionBackward[T Float](dqkv, dout, qkv, probs, mask, dropped, scratch []T, s attnShape, drop attnDrop) {
	t, d, dh, tt := s.t, s.d(), s.dh, s.t*s.t
	ld := 3 * d
	scale := T(s.scale())
	s.eachHead(8*tt*dh, func(task, at, outAt int) {
		q, k, v := qkvOf(qkv, at, d)
		dq, dk, dv := qkvOf(dqkv, at, d)
		do := dout[outAt:]
		p, dp := probs[task*tt:(task+1)*tt], scratch[task*tt:(task+1)*tt]
		a := p
		if drop.active() {
			a = dropped[task*tt : (task+1)*tt]
		}
		// dA = dout·vᵀ and dv = Aᵀ·dout, A the (dropped) probabilities.
		gemm(false, true, t, t, dh, 1, do, d, v, ld, 0, dp, t)
		gemm(true, false, t, dh, t, 1, a, t, do, d, 0, dv, ld)
		if drop.active() {
			for i, m := range mask[task*tt : (task+1)*tt] {
				dp[i] *= m
			}
		}
		// Softmax backward in place: dS = P ⊙ (dP - rowsum(dP ⊙ P)).
		for i := 0; i < t; i++ {
			pr, dr := p[i*t:(i+1)*t], dp[i*t:(i+1)*t]
			var dot T
			for j, w := range pr {
				dot += w * dr[j]
			}
			for j, w := range pr {
				dr[j] = w * (dr[j] - dot)
			}
		}
		gemm(false, false, t, dh, t, scale, dp, t, k, ld, 0, dq, ld)
		gemm(true, false, t, dh, t, scale, dp, t, q, ld, 0, dk, ld)
	})
}

// softmaxRow replaces r with softmax(r), shifting by the maximum for range.
func softmaxRow[T Float](r []T) {
	mx := r[0]
	for _, v := range r[1:] {
		mx = max(mx, v)
	}
	for i, v := range r {
		r[i] = v - mx
	}
	exps(r, r)
	var sum T
	for _, v := range r {
		sum += v
	}
	inv := 1 / sum
	for i := range r {
		r[i] *= inv
	}
}
