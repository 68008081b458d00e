package ops

import (
	"math"

	"github.com/sslens/sslens/backend/nn/fastmath"
)

// Elementwise erf and exp over slices: float32 with package fastmath's
// approximations, float64 (gradient checks) with the math package. dst and
// src may be the same slice.

// erfs sets dst[i] = erf(src[i]).
func erfs[T Float](dst, src []T) {
	if is32[T]() {
		fastmath.Erf(cast[float32](dst), cast[float32](src))
		return
	}
	for i, x := range src {
		dst[i] = T(math.Erf(float64(x)))
	}
}

// exps sets dst[i] = e^src[i].
func exps[T Float](dst, src []T) {
	if is32[T]() {
		fastmath.Exp(cast[float32](dst), cast[float32](src))
		return
	}
	for i, x := range src {
		dst[i] = T(math.Exp(float64(x)))
	}
}
