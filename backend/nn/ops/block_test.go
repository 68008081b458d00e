package ops

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestBlockNodeCount counts the nodes of one transformer block: one per
// layer forward, not hundreds, and one per gradient backward.
func TestBlockNodeCount(t *testing.T) {
	g := gorgonia.NewGraph()
	var in gorgonia.Nodes
	for _, s := range blockInputs(testBlock) {
		in = append(in, gorgonia.NewTensor(g, tensor.Float32, len(s.shape), gorgonia.WithShape(s.shape...), gorgonia.WithName(s.name)))
	}
	out, err := fusedBlock(testBlock)(in)
	if err != nil {
		t.Fatal(err)
	}
	if n := countOps(g); n != 10 {
		t.Errorf("forward block has %d op nodes, want 10", n)
	}
	if _, err := gorgonia.Grad(gorgonia.Must(gorgonia.Sum(out)), in...); err != nil {
		t.Fatal(err)
	}
	// Backward: dx, dW, db for 4 Linears, dx, dgamma, dbeta for 2
	// LayerNorms, attention, GELU, and the 2 Adds Gorgonia inserts where x
	// branches into a LayerNorm and a residual.
	const backward = 4*3 + 2*3 + 1 + 1 + 2
	if n := countOps(g) - lossOps(t, out.Shape()); n != 10+backward {
		t.Errorf("block with gradients has %d op nodes, want %d", n, 10+backward)
	}
}

// lossOps counts the nodes Sum and its gradient add for an output shape.
func lossOps(t *testing.T, shape tensor.Shape) int {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, len(shape), gorgonia.WithShape(shape...))
	if _, err := gorgonia.Grad(gorgonia.Must(gorgonia.Sum(x)), x); err != nil {
		t.Fatal(err)
	}
	return countOps(g)
}

func countOps(g *gorgonia.ExprGraph) int {
	n := 0
	for _, node := range g.AllNodes() {
		if node.Op() != nil {
			n++
		}
	}
	return n
}

func TestBlockGradients(t *testing.T) {
	c := testBlock
	c.attnDrop, c.dropPath = 0.3, 0.5
	checkGraphGradients(t, blockCase("block with dropout", c, false))
}

func TestBlockMatchesNaive(t *testing.T) {
	for _, tc := range naiveTolerances {
		t.Run(tc.dt.String(), func(t *testing.T) { checkMatchesNaive(t, blockCase("block", testBlock, true), tc.dt, tc.tol) })
	}
}

// TestPatchEmbedGradients checks that a Linear on Patchify's output builds
// no gradient for the patches: images carry none.
func TestPatchEmbedGradients(t *testing.T) {
	g := gorgonia.NewGraph()
	images := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 3, 8, 8))
	w := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(5, 3*4*4))
	b := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(5))
	y := gorgonia.Must(Linear(gorgonia.Must(Patchify(images, 4)), w, b))
	if _, err := gorgonia.Grad(gorgonia.Must(gorgonia.Sum(y)), w, b); err != nil {
		t.Fatal(err)
	}
	for _, n := range g.AllNodes() {
		if f, ok := n.Op().(*fused); ok && f.name == "linear dx" {
			t.Errorf("graph has %v, a gradient for the patches", n.Op())
		}
	}
}
