package ops

import "math"

// crossEntropyForward returns the mean over n rows of -log softmax(logits)[label]
// for logits[n,c], and writes the softmax probabilities into probs[n,c].
// Labels must lie in [0, c). The sum runs in float64.
func crossEntropyForward[T Float](probs, logits []T, labels []int, n, c int) T {
	var loss float64
	for r := 0; r < n; r++ {
		lr, pr := logits[r*c:(r+1)*c], probs[r*c:(r+1)*c]
		mx := lr[0]
		for _, v := range lr[1:] {
			mx = max(mx, v)
		}
		var sum float64
		for _, v := range lr {
			sum += math.Exp(float64(v - mx))
		}
		lse := float64(mx) + math.Log(sum)
		for j, v := range lr {
			pr[j] = T(math.Exp(float64(v) - lse))
		}
		loss += lse - float64(lr[labels[r]])
	}
	return T(loss / float64(n))
}

// crossEntropyBackward sets dlogits = g/n·(probs - onehot(labels)), g the
// gradient arriving at the mean loss.
func crossEntropyBackward[T Float](dlogits, probs []T, labels []int, n, c int, g T) {
	s := g / T(n)
	for r := 0; r < n; r++ {
		pr, dr := probs[r*c:(r+1)*c], dlogits[r*c:(r+1)*c]
		for j, v := range pr {
			dr[j] = s * v
		}
		dr[labels[r]] -= s
	}
}
