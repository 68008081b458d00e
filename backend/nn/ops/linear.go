package ops

// linearForward sets y[R,O] = x[R,I]·W[O,I]ᵀ + b[O]. b may be nil.
func linearForward[T Float](y, x, w, b []T, rows, in, out int) {
	var beta T
	if b != nil {
		// Seed y with the bias so the gemm adds onto it (beta = 1): one
		// pass over y instead of a second one after the product.
		parallelFor(rows, grainFor(out), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				copy(y[r*out:(r+1)*out], b)
			}
		})
		beta = 1
	}
	gemm(false, true, rows, out, in, 1, x, in, w, in, beta, y, out)
}

// linearBackwardX sets dx[R,I] = dy[R,O]·W[O,I].
func linearBackwardX[T Float](dx, dy, w []T, rows, in, out int) {
	gemm(false, false, rows, in, out, 1, dy, out, w, in, 0, dx, in)
}

// linearBackwardW sets dW[O,I] = dy[R,O]ᵀ·x[R,I].
func linearBackwardW[T Float](dw, dy, x []T, rows, in, out int) {
	gemm(true, false, out, in, rows, 1, dy, out, x, in, 0, dw, in)
}

// linearBackwardB sets db[O] = Σ_r dy[r,:].
func linearBackwardB[T Float](db, dy []T, rows, out int) {
	colSum(db, dy, rows, out)
}
