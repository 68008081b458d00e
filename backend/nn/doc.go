// Package nn builds sslens's Vision Transformer as Gorgonia graphs from the
// fused ops of backend/nn/ops, and trains and runs the lens classifier on it.
//
// The model itself (presets, parameter names and shapes, initialisation,
// checkpoints) lives in backend/nn/vit and backend/nn/ckpt, free of graph
// code; this package only executes it on the CPU.
//
// # Backbone
//
// NewBackbone turns a vit.Params set into parameter nodes of one graph.
// In float32 each node is backed by its vit.Param's Data slice itself, so an
// optimiser updating Data in place is what the next run reads; a float64
// graph (for gradient checks) gets copies. Forward then adds the network for
// one batch size and input size, and may be called several times on one
// Backbone (multi-crop training), every call sharing the parameter nodes:
//
//	images [N, C, S', S'] -> Patchify -> Linear(patch_embed) [N*P, D]
//	-> Tokens(cls, pos) [N*T, D] -> Depth x pre-norm block -> LayerNorm(norm)
//	-> Tokens [N*T, D] and CLS [N, D]
//
// with P = g*g patches on a g = S/PatchSize grid and T = P+1 tokens, the
// class token first in each image's T rows. S' = g*PatchSize: an input whose
// side is not a multiple of the patch size loses its last rows and columns,
// as the strided patch convolution drops them (a 20 px crop is cut to 16).
// For a grid other than the preset's the position embedding is resampled
// bicubically inside the graph, pos' = M·pos with M = vit.PosEmbedMatrix, so
// the gradient reaches the learned embedding.
//
// # Classifier
//
// Classifier is the backbone plus timm's linear head (head.weight [2, D],
// head.bias [2]) and softmax cross-entropy, class 1 the lens. It compiles one
// TapeMachine per batch size for training and one forward-only machine for
// evaluation, each built on first use and reused step after step: the ops'
// buffers persist, so a step allocates almost nothing, at the cost of memory
// per machine (ViT-S/8 at batch 64: about 1.2 GB of peak RSS training, 1.8
// GB with a partial last batch's machine, 2.2 GB with evaluation's too).
// Images are flat float32 [N, C, S, S] with S = Preset.ImageSize, normalised
// as the model was trained; training batches larger than Options.Batch are
// split, evaluation batches are cut into Options.Batch images, the last one
// padded.
//
// Randomness (attention dropout, drop path) comes from Options.Seed: every
// op draws from its own generator, seeded from (Seed, batch size, layer), so
// two classifiers built alike take identical steps.
package nn
