// Package bench times ViT training steps of backend/nn: images/s, GFLOP/s
// against the rate of one OpenBLAS-sized sgemm, and peak resident memory,
// optionally back to back with a PyTorch peer running the same network and
// step on the same cores (torch_vit_step.py, embedded). `sslens bench` is
// its command line.
//
// The machine it runs on is usually shared and noisy: compare ratios
// measured in one Run (ours against the peer), not absolute times.
package bench
