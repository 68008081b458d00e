package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn/optim"
)

// gradBuffers are the gradients a step leaves: one float32 buffer per Var
// (the Var's own Grad) and, in a float64 network, a float64 buffer beside
// each, which the float32 one holds rounded (the exactness checks of
// micro-batching read the float64 ones).
type gradBuffers struct {
	names []string
	f32   [][]float32
	f64   [][]float64 // nil in a float32 network
}

func newGradBuffers(vars []optim.Var, double bool) gradBuffers {
	b := gradBuffers{names: make([]string, len(vars)), f32: make([][]float32, len(vars))}
	for i, v := range vars {
		b.names[i], b.f32[i] = v.Name, v.Grad
	}
	if double {
		b.f64 = make([][]float64, len(vars))
		for i, v := range vars {
			b.f64[i] = make([]float64, len(v.Grad))
		}
	}
	return b
}

// clear zeroes buffer i.
func (b gradBuffers) clear(i int) {
	clear(b.f32[i])
	if b.f64 != nil {
		clear(b.f64[i])
	}
}

// add sets buffer i to w times the gradient value v (set) or adds w times
// v to it.
func (b gradBuffers) add(i int, v gorgonia.Value, w float64, set bool) error {
	d, ok := v.(*tensor.Dense)
	if !ok || d.Shape().TotalSize() != len(b.f32[i]) {
		return fmt.Errorf("nn: gradient of %s is %v, want %d values", b.names[i], v, len(b.f32[i]))
	}
	switch x := d.Data().(type) {
	case []float32:
		if b.f64 == nil {
			accumulate(b.f32[i], x, float32(w), set)
			return nil
		}
	case []float64:
		if b.f64 != nil {
			g := b.f64[i]
			accumulate(g, x, w, set)
			for j, gj := range g {
				b.f32[i][j] = float32(gj)
			}
			return nil
		}
	}
	return fmt.Errorf("nn: gradient of %s is %v, not of the network's dtype", b.names[i], d.Dtype())
}

// accumulate sets dst to w·src (set) or adds w·src to it.
func accumulate[T float32 | float64](dst, src []T, w T, set bool) {
	switch {
	case set && w == 1:
		copy(dst, src)
	case set:
		for j, x := range src {
			dst[j] = w * x
		}
	default:
		for j, x := range src {
			dst[j] += w * x
		}
	}
}

// float32s returns a float32 or float64 tensor value's elements as float32:
// the tensor's own slice, or a rounded copy of a float64 one.
func float32s(v gorgonia.Value) []float32 {
	if x, ok := v.Data().([]float64); ok {
		return convert[float32](x)
	}
	return v.Data().([]float32)
}

// copyValues copies n elements of src from srcOff on into dst from dstOff
// on; both are float32 or both float64 tensor values.
func copyValues(dst gorgonia.Value, dstOff int, src gorgonia.Value, srcOff, n int) {
	switch d := dst.Data().(type) {
	case []float32:
		copy(d[dstOff:dstOff+n], src.Data().([]float32)[srcOff:])
	case []float64:
		copy(d[dstOff:dstOff+n], src.Data().([]float64)[srcOff:])
	}
}
