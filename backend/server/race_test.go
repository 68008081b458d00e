//go:build race

package server

// The race detector slows everything about tenfold: the load test scales
// down to stay a test of correctness, not of speed.
const loadScale = 5
