//go:build race

package augment

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// pooled scratch is reallocated and allocation counts are meaningless.
const raceEnabled = true
