package bench

import (
	"math/rand/v2"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn/ops"
)

// The sgemm the kernels' rate is compared with: the qkv product of ViT-S/8
// at batch 64 (64·17 rows), 1088x384 by 384x1536.
const SgemmM, SgemmK, SgemmN = 1088, 384, 1536

// Sgemm runs that product as the kernels do (ops.Linear without a bias,
// products split across cores) reps times and returns the best rate in
// GFLOP/s.
func Sgemm(reps int) (float64, error) {
	g := gorgonia.NewGraph()
	rng := rand.New(rand.NewPCG(5, 6))
	matrix := func(name string, rows, cols int) *gorgonia.Node {
		s := make([]float32, rows*cols)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(rows, cols), gorgonia.WithName(name),
			gorgonia.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(s))))
	}
	if _, err := ops.Linear(matrix("x", SgemmM, SgemmK), matrix("w", SgemmN, SgemmK), nil); err != nil {
		return 0, err
	}
	vm := gorgonia.NewTapeMachine(g, gorgonia.EvalMode())
	defer vm.Close()
	best := time.Duration(1<<63 - 1)
	for range reps + 1 { // the first run allocates the output
		vm.Reset()
		start := time.Now()
		if err := vm.RunAll(); err != nil {
			return 0, err
		}
		best = min(best, time.Since(start))
	}
	return 2 * SgemmM * SgemmK * SgemmN / best.Seconds() / 1e9, nil
}
