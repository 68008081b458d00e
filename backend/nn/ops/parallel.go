package ops

import (
	"runtime"
	"sync"
)

// minTaskWork is the least work (in element operations) worth a goroutine:
// below it the start-up cost (about a microsecond) outweighs the split.
const minTaskWork = 1 << 15

// grainFor returns how many items of the given cost make a task of at least
// minTaskWork operations.
func grainFor(costPerItem int) int {
	return max(1, minTaskWork/max(1, costPerItem))
}

// parallelFor calls fn on contiguous chunks that cover [0, n), one chunk per
// core (runtime.GOMAXPROCS), running the first on the calling goroutine. It
// stays serial when n is below two grains. Chunks must touch disjoint memory.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(1, grain))
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	fn(0, chunk)
	wg.Wait()
}
