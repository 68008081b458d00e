package ops

import (
	"fmt"
	"math"
	"slices"
)

// SoftTerm is one term of a SoftCrossEntropy: the cross-entropy of target
// distribution Target (a row of the targets) against the sharpened
// softmax of logits row Row, with weight Weight.
type SoftTerm struct {
	Row, Target int
	Weight      float64
}

// softTerms is a set of terms folded per logits row: with s = logits/τ,
//
//	Σ_t w_t·Σ_k -T[t,k]·log softmax(s[r_t])_k = Σ_r W_r·lse(s[r]) - C_r·s[r]
//
// where W_r = Σ_{t: r_t = r} w_t·Σ_k T[t,k] and C_r = Σ_{t: r_t = r} w_t·T[t].
// rows lists the rows terms reference, ascending; w and coef [len(rows), K]
// hold W and C.
type softTerms struct {
	rows []int
	w    []float64
	coef []float64
}

// fold computes the per-row sums of terms over targets [M, k]; rows is
// the number of logits rows. It reuses st's slices.
func (st *softTerms) fold(targets []float32, k, rows int, terms []SoftTerm) error {
	if k <= 0 || len(targets)%k != 0 {
		return fmt.Errorf("%d target values are not rows of %d", len(targets), k)
	}
	m := len(targets) / k
	st.rows = st.rows[:0]
	for i, t := range terms {
		switch {
		case t.Row < 0 || t.Row >= rows:
			return fmt.Errorf("term %d: logits row %d outside [0, %d)", i, t.Row, rows)
		case t.Target < 0 || t.Target >= m:
			return fmt.Errorf("term %d: target row %d outside [0, %d)", i, t.Target, m)
		case math.IsNaN(t.Weight) || math.IsInf(t.Weight, 0):
			return fmt.Errorf("term %d: weight %v", i, t.Weight)
		}
		st.rows = append(st.rows, t.Row)
	}
	slices.Sort(st.rows)
	st.rows = slices.Compact(st.rows)
	n := len(st.rows)
	st.w = slices.Grow(st.w[:0], n)[:n]
	st.coef = slices.Grow(st.coef[:0], n*k)[:n*k]
	clear(st.w)
	clear(st.coef)
	for _, t := range terms {
		i, _ := slices.BinarySearch(st.rows, t.Row)
		c := st.coef[i*k : (i+1)*k]
		var sum float64
		for j, v := range targets[t.Target*k : (t.Target+1)*k] {
			c[j] += t.Weight * float64(v)
			sum += float64(v)
		}
		st.w[i] += t.Weight * sum
	}
	return nil
}

// softCEForward returns the loss of the folded terms over logits[R, k] at
// inverse temperature inv, and keeps softmax(s[r]) of each referenced row
// in probs [len(st.rows), k] and each row's share of the loss in part.
// Rows run in parallel; the sum is serial, so the result does not depend on
// the split.
func softCEForward[T Float](probs, part []float64, logits []T, st *softTerms, k int, inv float64) float64 {
	parallelFor(len(st.rows), grainFor(4*k), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s, p := logits[st.rows[i]*k:(st.rows[i]+1)*k], probs[i*k:(i+1)*k]
			mx := math.Inf(-1)
			for _, v := range s {
				mx = max(mx, float64(v)*inv)
			}
			var sum float64
			for j, v := range s {
				e := math.Exp(float64(v)*inv - mx)
				p[j] = e
				sum += e
			}
			lse := mx + math.Log(sum)
			c := st.coef[i*k : (i+1)*k]
			var cs float64
			for j, v := range s {
				p[j] /= sum
				cs += c[j] * float64(v) * inv
			}
			part[i] = st.w[i]*lse - cs
		}
	})
	var loss float64
	for _, v := range part {
		loss += v
	}
	return loss
}

// softCEBackward sets dlogits[R, k] = g·inv·(W_r·softmax(s[r]) - C_r) on
// the referenced rows and zero elsewhere.
func softCEBackward[T Float](dlogits []T, probs []float64, st *softTerms, k int, inv, g float64) {
	clear(dlogits)
	parallelFor(len(st.rows), grainFor(2*k), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d, p, c := dlogits[st.rows[i]*k:(st.rows[i]+1)*k], probs[i*k:(i+1)*k], st.coef[i*k:(i+1)*k]
			for j := range d {
				d[j] = T(g * inv * (st.w[i]*p[j] - c[j]))
			}
		}
	})
}
