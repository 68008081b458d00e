// Package fastmath computes erf and exp elementwise over float32 slices,
// for GELU, softmax and their gradients: math.Erf and math.Exp work in
// float64 and cost 4-5 times as much, which made GELU a third of a ViT
// block's time. The loops take slices so the arithmetic sits in the loop
// body (the scalar forms are too large for Go to inline); on amd64 with
// AVX2 and FMA, assembly kernels do 8 values at a time, the last few
// through the same kernel from a padded block: every value takes the same
// arithmetic wherever it sits in a slice, so that a tensor cut into
// micro-batches gives the bits an uncut one does. dst and src may be the
// same slice.
package fastmath

import "math"

// Erf sets dst[i] = erf(src[i]) within 5e-7 absolute: Eigen's rational
// approximation (as TensorFlow/XLA use for float32), x·P(x²)/Q(x²) on
// [-4, 4]; outside, erf is ±1 to float32 precision. Where AVX2 and FMA
// are, erf8s does it, some 12 times as fast (BenchmarkErf).
func Erf(dst, src []float32) {
	dst = dst[:len(src)]
	if vector8 {
		if n := erf8s(dst, src); n < len(src) {
			var d, s [8]float32
			copy(s[:], src[n:])
			erf8s(d[:], s[:])
			copy(dst[n:], d[:])
		}
		return
	}
	for i, x := range src {
		// Plain comparisons, not min/max: those handle NaN and signed
		// zeros with extra work, making the loop 1.6 times slower.
		if x > 4 {
			x = 4
		}
		if x < -4 {
			x = -4
		}
		x2 := x * x
		p := x2*-2.72614225801306e-10 + 2.77068142495902e-08
		p = x2*p + -2.10102402082508e-06
		p = x2*p + -5.69250639462346e-05
		p = x2*p + -7.34990630326855e-04
		p = x2*p + -2.95459980854025e-03
		p = x2*p + -1.60960333262415e-02
		q := x2*-1.45660718464996e-05 + -2.13374055278905e-04
		q = x2*q + -1.68282697438203e-03
		q = x2*q + -7.37332916720468e-03
		q = x2*q + -1.42647390514189e-02
		dst[i] = x * p / q
	}
}

// GELU sets cdf = Φ(x) = 1/2 + erf(x/√2)/2 and y = x·Φ(x) elementwise:
// GELU's output and what its gradient needs.
func GELU(y, cdf, x []float32) {
	y, cdf = y[:len(x)], cdf[:len(x)]
	if vector8 {
		if n := gelu8s(y, cdf, x); n < len(x) {
			var ys, cs, xs [8]float32
			copy(xs[:], x[n:])
			gelu8s(ys[:], cs[:], xs[:])
			copy(y[n:], ys[:])
			copy(cdf[n:], cs[:])
		}
		return
	}
	for i, v := range x {
		cdf[i] = v * (1 / math.Sqrt2)
	}
	Erf(cdf, cdf)
	for i, v := range x {
		c := 0.5 + 0.5*cdf[i]
		cdf[i] = c
		y[i] = v * c
	}
}

// GELUGrad sets dx = dy·(Φ(x) + x·φ(x)), GELU's gradient, elementwise,
// with Φ(x) from cdf (GELU's) and φ the standard normal density. dx must
// not overlap the others: the scalar loop keeps e^(-x²/2) there.
func GELUGrad(dx, dy, x, cdf []float32) {
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	dx, dy, cdf = dx[:len(x)], dy[:len(x)], cdf[:len(x)]
	if vector8 {
		if n := geluGrad8s(dx, dy, x, cdf); n < len(x) {
			var dxs, dys, xs, cs [8]float32
			copy(dys[:], dy[n:])
			copy(xs[:], x[n:])
			copy(cs[:], cdf[n:])
			geluGrad8s(dxs[:], dys[:], xs[:], cs[:])
			copy(dx[n:], dxs[:])
		}
		return
	}
	for i, v := range x {
		dx[i] = -v * v / 2
	}
	Exp(dx, dx)
	for i, v := range x {
		dx[i] = dy[i] * (cdf[i] + v*dx[i]*invSqrt2Pi)
	}
}

// Exp sets dst[i] = e^src[i] within 2 ulp (Cephes' expf): x = n·ln2 + r with
// |r| <= ln2/2, a degree-6 polynomial for e^r, and 2^n built from bits. It
// gives 0 below -87.33 (where e^x leaves the normal float32 range) and +Inf
// above 88.72. Where AVX2 and FMA are, exp8s does it.
func Exp(dst, src []float32) {
	dst = dst[:len(src)]
	if vector8 {
		if n := exp8s(dst, src); n < len(src) {
			var d, s [8]float32
			copy(s[:], src[n:])
			exp8s(d[:], s[:])
			copy(dst[n:], d[:])
		}
		return
	}
	for i, x := range src {
		if x < -87.33 {
			dst[i] = 0
			continue
		}
		if x > 88.72 {
			dst[i] = float32(math.Inf(1))
			continue
		}
		// Adding and subtracting 1.5·2²³ rounds to the nearest integer.
		n := (x*math.Log2E + 12582912) - 12582912
		r := x - n*0.693359375 - n*-2.12194440e-4 // ln2 split in two for exactness
		p := float32(1.9875691500e-4)
		p = p*r + 1.3981999507e-3
		p = p*r + 8.3334519073e-3
		p = p*r + 4.1665795894e-2
		p = p*r + 1.6666665459e-1
		p = p*r + 5.0000001201e-1
		e := p*r*r + r + 1
		if k := int32(n); k <= 127 {
			dst[i] = e * math.Float32frombits(uint32(k+127)<<23)
		} else { // 2^128 overflows float32; e < 1 brings the product back
			dst[i] = e * math.Float32frombits(254<<23) * 2
		}
	}
}
