//go:build !race

package server

// loadScale divides the load test's client and upload counts.
const loadScale = 1
