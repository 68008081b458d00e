// Package ops holds the fused compute kernels of the ViT engine and the
// Gorgonia ops that wrap them.
//
// Every layer has an explicit forward and backward function over flat,
// row-major buffers, generic over float32 and float64 (the Float
// constraint), small enough to test against central finite differences in
// float64. The Gorgonia ops are thin wrappers: one graph node per layer
// forward and one per gradient, each declared as a spec (name, inputs,
// output shape, generic kernel) to which op.go adds the rest of Gorgonia's
// Op interface. Each writes into a buffer the op owns, so a compiled
// TapeMachine runs step after step (Reset, Let new inputs, RunAll) without
// allocating tensors. A node's value is that buffer: it is overwritten by
// the next run, so copy what must outlive a step. An op belongs to one
// graph and runs in one machine at a time.
//
// Shapes and layouts. "Rows" R is batch·tokens; a row holds one token's
// features. Weights are in PyTorch/timm layout, so checkpoints map 1:1:
//
//	Linear             x[R,I] · W[O,I]ᵀ + b[O] -> y[R,O]
//	LayerNorm          x[R,D], gamma[D], beta[D] -> y[R,D], over the last dim (timm: eps 1e-6)
//	GELU               x[...] -> y[...], exact erf form x·Φ(x) (PyTorch nn.GELU default)
//	Attention          qkv[N*T, 3D] -> out[N*T, D]; qkv as timm's Attention reshapes it,
//	                   (N, T, 3, H, Dh): q at columns [0,D), k at [D,2D), v at [2D,3D), head h
//	                   at [h*Dh, (h+1)*Dh) inside each; out holds the heads side by side
//	SoftmaxCrossEntropy logits[N,C] + labels -> mean cross-entropy, a scalar
//	Patchify           images[N,C,H,W] -> patches[N*P, C*ps*ps] (P = H/ps * W/ps, row-major
//	                   grid), columns ordered (c, ky, kx) as Conv2d's weight (D, C, ps, ps) flattens
//	Tokens             patches[N*P, D], cls[1,D], pos[P+1, D] -> x[N*(P+1), D], CLS first per image
//	Residual           x[R,D] + dropPath(f[R,D]), one keep/drop draw per sample of T rows
//	SelectCLS          x[N*T, D] -> cls rows [N, D]
//
// Randomness (attention-probability dropout, drop path) comes from a PCG
// generator each op owns, seeded at construction: a seed and a sequence of
// steps give the same masks whatever the number of cores. Dropout and drop
// path act only in training mode. The ops implement gorgonia.TrainModeOp,
// which gorgonia.NewTapeMachine calls (gorgonia.EvalMode() turns them off);
// SetTraining switches them in a built graph.
//
// BLAS. Built with the tag openblas (and cgo), the package links OpenBLAS
// through gonum.org/v1/netlib and installs it for gonum (blas32, blas64) and
// Gorgonia when it loads, with OpenBLAS single-threaded: the kernels split
// large products across cores themselves (see blas_openblas.go). Otherwise it
// uses gonum's pure-Go BLAS. BLASName says which.
package ops
