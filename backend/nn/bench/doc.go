// Package bench times training steps: supervised ViT steps of backend/nn
// (Preset: images/s, GFLOP/s against the rate of one OpenBLAS-sized sgemm,
// peak resident memory) and any prepared step (Measure; `sslens bench
// --method` times backend/ssl's pretraining steps with it), optionally back
// to back with a PyTorch peer running the same network and step on the
// same cores (torch_vit_step.py, embedded: the supervised step, or DINO's,
// iBOT's and SimSiam's official step described by a MethodSpec). `sslens
// bench` is its command line.
//
// The machine it runs on is usually shared and noisy: compare ratios
// measured in one Run (ours against the peer), not absolute times.
package bench
