package server

import (
	"context"
	"runtime"
)

// renderSlots bounds how many image decodes and renders (PNG routes, image
// details, previews) run at once, so that requests stacking up with
// varying parameters queue instead of taking every core and their memory.
type renderSlots chan struct{}

// defaultRenderSlots is half the cores, at least one: the other half stays
// with training, scoring and the rest of the API.
func defaultRenderSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

func newRenderSlots(n int) renderSlots { return make(renderSlots, max(n, 1)) }

// acquire waits for a slot until ctx is done; the caller calls release
// when its render is over.
func (s renderSlots) acquire(ctx context.Context) (release func(), err error) {
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
