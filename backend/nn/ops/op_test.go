package ops

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestOpsNotMerged builds each op twice on one input, once with other
// parameters and once alike: Gorgonia merges nodes whose ops hash alike
// (it did so to SoftMax and LogSoftMax), so every build must give a node of
// its own, and ops whose maths differ must say so in their names.
func TestOpsNotMerged(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(4, 6), gorgonia.WithName("x"))
	gamma := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(6), gorgonia.WithName("gamma"))
	beta := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(6), gorgonia.WithName("beta"))
	for _, c := range []struct {
		name  string
		build func(v float64) (*gorgonia.Node, error)
	}{
		{"layernorm eps", func(v float64) (*gorgonia.Node, error) { return LayerNorm(x, gamma, beta, v) }},
		{"soft cross-entropy temperature", func(v float64) (*gorgonia.Node, error) {
			n, _, err := SoftCrossEntropy(x, v)
			return n, err
		}},
		{"attention dropout", func(v float64) (*gorgonia.Node, error) {
			return Attention(x, AttentionConfig{Heads: 2, Tokens: 2, Dropout: v / 10})
		}},
		{"residual drop path", func(v float64) (*gorgonia.Node, error) {
			return Residual(x, x, DropPath{Rate: v / 10, Tokens: 2})
		}},
		{"batchnorm eps", func(v float64) (*gorgonia.Node, error) {
			return BatchNorm(x, nil, nil, BatchNormConfig{Eps: v, Momentum: 0.1})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, errA := c.build(1)
			b, errB := c.build(2)
			same, errS := c.build(1)
			if errA != nil || errB != nil || errS != nil {
				t.Fatal(errA, errB, errS)
			}
			if a == b || a == same {
				t.Errorf("nodes merged: %v, %v, %v", a, b, same)
			}
			if a.Op().String() == b.Op().String() {
				t.Errorf("ops with other parameters share the name %v", a.Op())
			}
			if a.Op().Hashcode() == same.Op().Hashcode() {
				t.Errorf("two ops alike hash alike: %v", a.Op())
			}
		})
	}
}
