package ops

import (
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestBuildErrors feeds each builder inputs it must refuse, and checks the
// error names the op and the offending shape or value.
func TestBuildErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	m := func(r, c int) *gorgonia.Node {
		return gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(r, c))
	}
	v := func(n int) *gorgonia.Node { return gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(n)) }
	images := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 3, 6, 6))
	cases := []struct {
		name  string
		build func() error
		want  string
	}{
		{"linear inner sizes", func() error { _, err := Linear(m(4, 3), m(2, 5), nil); return err }, "linear: x (4, 3) has 3 features but W (2, 5) takes 5"},
		{"linear bias size", func() error { _, err := Linear(m(4, 3), m(2, 3), v(3)); return err }, "linear: bias (3) must be a vector of 2"},
		{"layernorm gamma", func() error { _, err := LayerNorm(m(4, 3), v(4), v(3), LayerNormEps); return err }, "layernorm: gamma (4) and beta (3) must be vectors of 3"},
		{"layernorm eps", func() error { _, err := LayerNorm(m(4, 3), v(3), v(3), 0); return err }, "layernorm: eps 0 must be positive"},
		{"attention heads", func() error { _, err := Attention(m(6, 12), AttentionConfig{Heads: 3, Tokens: 3}); return err }, "attention: qkv (6, 12): width 12 is not 3 x heads (3)"},
		{"attention tokens", func() error { _, err := Attention(m(6, 12), AttentionConfig{Heads: 2, Tokens: 4}); return err }, "6 rows are not sequences of 4 tokens"},
		{"attention dropout", func() error {
			_, err := Attention(m(6, 12), AttentionConfig{Heads: 2, Tokens: 3, Dropout: 1})
			return err
		}, "attention: dropout rate 1 outside [0, 1)"},
		{"tokens pos", func() error { _, err := Tokens(m(8, 4), m(1, 4), m(4, 4)); return err }, "8 patch rows are not whole images of 3 patches"},
		{"tokens cls", func() error { _, err := Tokens(m(8, 4), m(2, 4), m(5, 4)); return err }, "want cls [1 4]"},
		{"residual shapes", func() error { _, err := Residual(m(4, 3), m(4, 2), DropPath{}); return err }, "residual: x (4, 3) and f (4, 2)"},
		{"residual tokens", func() error { _, err := Residual(m(4, 3), m(4, 3), DropPath{Rate: 0.1, Tokens: 3}); return err }, "residual: x (4, 3) is not samples of 3 rows"},
		{"select cls", func() error { _, err := SelectCLS(m(5, 3), 2); return err }, "select cls: x (5, 3) is not a matrix of sequences of 2 tokens"},
		{"patchify", func() error { _, err := Patchify(images, 4); return err }, "patchify: images (2, 3, 6, 6) do not tile into 4-pixel patches"},
		{"cross-entropy label count", func() error {
			_, op, err := SoftmaxCrossEntropy(m(3, 2))
			if err != nil {
				return err
			}
			return op.SetLabels([]int{0, 1})
		}, "cross-entropy: 2 labels for 3 rows"},
		{"cross-entropy label range", func() error {
			_, op, err := SoftmaxCrossEntropy(m(3, 2))
			if err != nil {
				return err
			}
			return op.SetLabels([]int{0, 1, 2})
		}, "cross-entropy: label 2 of row 2 outside [0, 2)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.build()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestLabelsNotSet runs a cross-entropy without labels: the machine must
// fail with a message saying so.
func TestLabelsNotSet(t *testing.T) {
	g := gorgonia.NewGraph()
	logits := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(2, 3), gorgonia.WithInit(gorgonia.Zeroes()))
	if _, _, err := SoftmaxCrossEntropy(logits); err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	if err := m.RunAll(); err == nil || !strings.Contains(err.Error(), "labels not set") {
		t.Errorf("running without labels: got %v", err)
	}
}
