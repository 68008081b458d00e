package eval

import (
	"math"
	"math/rand/v2"
)

// binormal draws lenses scoring N(shift, 1) and non-lenses N(0, 1): the
// population AUC is Phi(shift/sqrt 2).
func binormal(rng *rand.Rand, lenses, nonLenses int, shift float64) ([]float64, []int) {
	prob, label := make([]float64, 0, lenses+nonLenses), make([]int, 0, lenses+nonLenses)
	for i := range lenses + nonLenses {
		l, mu := 0, 0.0
		if i < lenses {
			l, mu = 1, shift
		}
		prob, label = append(prob, mu+rng.NormFloat64()), append(label, l)
	}
	return prob, label
}

// phi is the standard normal CDF.
func phi(x float64) float64 { return 0.5 * (1 + math.Erf(x/math.Sqrt2)) }

// pairwiseAUC counts every lens/non-lens pair, a tie as 1/2.
func pairwiseAUC(prob []float64, label []int) float64 {
	var twice, pairs int
	for i := range prob {
		for j := range prob {
			if label[i] != 1 || label[j] != 0 {
				continue
			}
			pairs++
			switch {
			case prob[i] > prob[j]:
				twice += 2
			case prob[i] == prob[j]:
				twice++
			}
		}
	}
	return float64(twice) / float64(2*pairs)
}
