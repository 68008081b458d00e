package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/sslens/sslens/shared"
)

// Watch describes one websocket subscription kept alive by Client.Watch.
type Watch struct {
	// Run is the run to follow; 0 follows every run, live only (no
	// replay: a reconnecting caller re-reads GET /api/runs in OnConnect).
	Run int64
	// After is the last event seq the caller already has; the server
	// replays the ones after it.
	After int64
	// OnEvents receives events in order, in batches (a replay arrives as
	// few large batches rather than thousands of calls). Events with a seq
	// already delivered are dropped, so a reconnect never repeats one.
	OnEvents func([]shared.Event)
	// OnConnect, when set, is called after every (re)connection and
	// subscription, and OnDisconnect with the reason when one is lost.
	OnConnect    func()
	OnDisconnect func(error)
	// Backoff bounds the wait between reconnection attempts; zero values
	// mean 500 ms doubling to at most 5 s.
	MinBackoff, MaxBackoff time.Duration
}

// maxBatch bounds one OnEvents call so the page redraws during a long
// replay.
const maxBatch = 500

// Watch follows w's run over the websocket until ctx ends, reconnecting
// after every failure (server restart, network change, "too slow" close)
// and resubscribing from the last seq it delivered. It returns ctx's error.
func (c *Client) Watch(ctx context.Context, w Watch) error {
	if w.MinBackoff <= 0 {
		w.MinBackoff = 500 * time.Millisecond
	}
	if w.MaxBackoff < w.MinBackoff {
		w.MaxBackoff = 10 * w.MinBackoff
	}
	last := map[int64]int64{w.Run: w.After}
	backoff := w.MinBackoff
	for {
		connected, err := c.watchOnce(ctx, w, last)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if w.OnDisconnect != nil {
			w.OnDisconnect(err)
		}
		if connected {
			backoff = w.MinBackoff
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, w.MaxBackoff)
	}
}

// wsURL turns the client's http(s) base into the websocket address.
func (c *Client) wsURL() string {
	switch {
	case strings.HasPrefix(c.base, "https://"):
		return "wss://" + strings.TrimPrefix(c.base, "https://") + "/api/ws"
	case strings.HasPrefix(c.base, "http://"):
		return "ws://" + strings.TrimPrefix(c.base, "http://") + "/api/ws"
	}
	return c.base + "/api/ws"
}

// watchOnce runs one connection: dial, subscribe after last[w.Run], and
// deliver events until the connection fails. It reports whether the
// subscription was made, so Watch can reset its backoff.
func (c *Client) watchOnce(ctx context.Context, w Watch, last map[int64]int64) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, c.wsURL(), c.ws)
	if err != nil {
		return false, fmt.Errorf("api: websocket: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)

	sub, err := json.Marshal(shared.ClientMessage{Type: shared.MsgSubscribe, Run: w.Run, After: last[w.Run]})
	if err != nil {
		return false, err
	}
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		return false, fmt.Errorf("api: websocket: subscribing: %w", err)
	}
	if w.OnConnect != nil {
		w.OnConnect()
	}

	// One goroutine reads; this one delivers whatever has queued up as one
	// batch, so a slow page never stalls the reads (the server would close
	// a reader that falls behind).
	events := make(chan shared.Event, 4*maxBatch)
	readErr := make(chan error, 1)
	go func() {
		defer close(events)
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			var ev shared.Event
			if err := json.Unmarshal(b, &ev); err != nil {
				readErr <- fmt.Errorf("api: websocket: bad event: %w", err)
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
	}()
	for ev := range events {
		batch := []shared.Event{ev}
	drain:
		for len(batch) < maxBatch {
			select {
			case ev, ok := <-events:
				if !ok {
					break drain
				}
				batch = append(batch, ev)
			default:
				break drain
			}
		}
		if fresh := dedupe(batch, last); len(fresh) > 0 && w.OnEvents != nil {
			w.OnEvents(fresh)
		}
	}
	err = <-readErr
	if errors.Is(err, context.Canceled) {
		return true, err
	}
	return true, fmt.Errorf("api: websocket: %w", err)
}

// dedupe keeps the events of batch not yet delivered (by per-run seq;
// connection-level events with seq 0 always pass) and records the newest
// seq per run in last.
func dedupe(batch []shared.Event, last map[int64]int64) []shared.Event {
	out := batch[:0]
	for _, ev := range batch {
		if ev.Seq > 0 {
			if ev.Seq <= last[ev.Run] {
				continue
			}
			last[ev.Run] = ev.Seq
		}
		out = append(out, ev)
	}
	return out
}
