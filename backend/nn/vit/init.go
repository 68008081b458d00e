package vit

import (
	"math"
	"math/rand/v2"
)

// TruncNormal fills x from the truncated normal New initialises linear
// weights with: trunc_normal_(std=0.02) on [-2, 2], as DINO's heads do.
func TruncNormal(rng *rand.Rand, x []float32) { truncNormal(rng, x, InitStd, -2, 2) }

// LinearDefault fills x from PyTorch's default nn.Linear initialisation
// for fanIn inputs, U(-1/√fanIn, 1/√fanIn), which holds for the weight
// (kaiming_uniform_ with a = √5) and the bias alike.
func LinearDefault(rng *rand.Rand, x []float32, fanIn int) {
	uniformFill(rng, x, 1/math.Sqrt(float64(fanIn)))
}
