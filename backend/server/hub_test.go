package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// publish stores n log events for run in batches of 50, as the job runner
// does, and notifies the hub; after each batch it calls wait (when not nil)
// with the batch's last seq. It returns the stored events.
func (f *fixture) publish(t testing.TB, run int64, n, size int, wait func(seq int64)) []shared.Event {
	t.Helper()
	var out []shared.Event
	text := strings.Repeat("x", size)
	for len(out) < n {
		batch := make([]shared.Event, min(50, n-len(out)))
		for i := range batch {
			batch[i] = shared.Event{Type: shared.EventLog, Log: &shared.LogLine{Stream: "stderr", Text: text}}
		}
		evs, err := f.st.AppendEvents(context.Background(), run, batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			f.hub.Notify(ev)
		}
		out = append(out, evs...)
		if wait != nil {
			wait(evs[len(evs)-1].Seq)
		}
	}
	return out
}

func (f *fixture) idleRun(t testing.TB) int64 {
	t.Helper()
	// A cancelled run: the queue leaves it alone, so the test owns its events.
	j, _, err := f.st.CreateRun(context.Background(), store.NewRun{Kind: shared.KindScore, Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.SetState(context.Background(), j.ID, store.Transition{To: shared.StateCancelled}); err != nil {
		t.Fatal(err)
	}
	return j.ID
}

// errorsIn counts the error events in evs.
func errorsIn(evs []shared.Event) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == shared.EventError {
			n++
		}
	}
	return n
}

// settle returns once w holds everything the hub will ever send it for
// the events notified so far: the hub's queues are flushed, then the
// error reply to a bad message, written after them, arrives.
func (f *fixture) settle(t testing.TB, w *wsConn) {
	t.Helper()
	if err := f.hub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := errorsIn(w.events())
	w.send(t, shared.ClientMessage{Type: "settle"})
	w.waitFor(t, "the reply to a bad message", func(shared.Event) bool { return errorsIn(w.events()) > n })
}

// subscribers counts the clients subscribed to run.
func (h *Hub) subscribers(run int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for c := range h.clients {
		if c.subs[run] {
			n++
		}
	}
	return n
}

func TestHubProtocol(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	run := f.idleRun(t)
	f.publish(t, run, 5, 10, nil)
	w := f.dial(t, c)
	w.send(t, shared.ClientMessage{Type: "dance"})
	w.waitFor(t, "an error", func(ev shared.Event) bool { return ev.Type == shared.EventError && ev.Seq == 0 })
	if err := w.conn.WriteMessage(websocket.TextMessage, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	w.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: run, After: 4})
	w.waitFor(t, "replay", func(ev shared.Event) bool { return ev.Seq == 6 }) // 5 logs after the 2 state events
	w.send(t, shared.ClientMessage{Type: shared.MsgUnsubscribe, Run: run})
	// A message after unsubscribing round-trips, so the unsubscribe is applied.
	w.send(t, shared.ClientMessage{Type: "ping?"})
	w.waitFor(t, "a third error", func(ev shared.Event) bool { return errorsIn(w.events()) == 3 })
	f.publish(t, run, 3, 10, nil)
	f.settle(t, w)
	var seqs []int64
	for _, ev := range w.events() {
		if ev.Type != shared.EventError {
			seqs = append(seqs, ev.Seq)
		}
	}
	if errs := errorsIn(w.events()); !slices.Equal(seqs, []int64{5, 6, 7}) || errs != 4 {
		t.Errorf("got seqs %v and %d errors; want 5 6 7 (after 4, nothing after unsubscribing) and 4 errors", seqs, errs)
	}
}

// Events notified out of order (different goroutines) still reach a
// client in order, with the gap filled from the store.
func TestHubFillsGaps(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	run := f.idleRun(t)
	w := f.dial(t, c)
	w.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: run})
	w.waitFor(t, "replay", func(ev shared.Event) bool { return ev.Seq == 2 })
	evs, err := f.st.AppendEvents(context.Background(), run, []shared.Event{
		{Type: shared.EventLog, Log: &shared.LogLine{Text: "a"}},
		{Type: shared.EventLog, Log: &shared.LogLine{Text: "b"}},
		{Type: shared.EventLog, Log: &shared.LogLine{Text: "c"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.hub.Notify(evs[2])
	f.hub.Notify(evs[0])
	f.hub.Notify(evs[1])
	w.waitFor(t, "the last event", func(ev shared.Event) bool { return ev.Seq == 5 })
	f.settle(t, w) // no duplicate follows
	checkSeqs(t, "client", w.events(), run, 1, 5)
}

// A client that stops reading is dropped without slowing the publisher,
// and catches up when it reconnects.
func TestHubDropsSlowClient(t *testing.T) {
	f := newFixture(t, HubOptions{Buffer: 100, WriteWait: 500 * time.Millisecond})
	c := f.login(t, astroUser)
	run := f.idleRun(t)
	fast := f.dial(t, c)
	fast.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: run})

	// The slow client subscribes, then never reads.
	d := websocket.Dialer{Jar: c.hc.Jar}
	slow, _, err := d.Dial("ws"+strings.TrimPrefix(f.ts.URL, "http")+"/api/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.WriteJSON(shared.ClientMessage{Type: shared.MsgSubscribe, Run: run})
	fast.waitFor(t, "subscribed", func(ev shared.Event) bool { return ev.Seq == 2 })
	for deadline := time.Now().Add(10 * time.Second); f.hub.subscribers(run) != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow client's subscription was never applied")
		}
	}

	t0 := time.Now()
	// 12 MB, more than socket buffers hold, published no faster than the
	// fast client reads.
	evs := f.publish(t, run, 3000, 4000, func(seq int64) {
		fast.waitFor(t, "a batch", func(ev shared.Event) bool { return ev.Seq == seq })
	})
	publishing := time.Since(t0)
	last := evs[len(evs)-1].Seq
	fast.waitFor(t, "every event", func(ev shared.Event) bool { return ev.Seq == last })
	checkSeqs(t, "fast client", fast.events(), run, 1, last)
	deadline := time.Now().Add(5 * time.Second)
	for f.hub.Clients() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.hub.Clients(); n != 1 {
		t.Fatalf("%d clients connected, want the slow one dropped", n)
	}
	t.Logf("published %d events of 4 KB in %v, as fast as a reading client took them, beside a stalled one", len(evs), publishing)

	// The slow client reads what it had, then finds the connection closed.
	var seen int64
	var closeErr error
	for {
		var ev shared.Event
		if closeErr = slow.ReadJSON(&ev); closeErr != nil {
			break
		}
		seen = ev.Seq
	}
	// 1008 when the close frame got through; 1006 when the stalled
	// socket had no room left for it.
	if ce, ok := closeErr.(*websocket.CloseError); !ok || (ce.Code != websocket.ClosePolicyViolation && ce.Code != websocket.CloseAbnormalClosure) {
		t.Errorf("closed with %v, want 1008 or 1006", closeErr)
	}
	if seen >= last {
		t.Fatalf("the slow client got everything (%d): the test did not stall it", seen)
	}
	again := f.dial(t, c)
	again.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: run, After: seen})
	again.waitFor(t, "catching up", func(ev shared.Event) bool { return ev.Seq == last })
	checkSeqs(t, "reconnected client", again.events(), run, seen+1, last)
}

// closedWith reads ws until it ends and returns the close error, failing
// if that takes over 10 s.
func closedWith(t *testing.T, ws *websocket.Conn) error {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("the socket is still open after 10 s")
			}
			return err
		}
	}
}

// A socket lives no longer than its session: signing out, deleting the
// user, or a session ended behind the hub's back (a password changed from
// the command line, found by the periodic check) closes it.
func TestSocketsCloseWithTheirSession(t *testing.T) {
	f := newFixture(t, HubOptions{SessionCheck: 100 * time.Millisecond})
	adm := f.login(t, adminUser)
	run := f.idleRun(t)
	dial := func(c *browser) *websocket.Conn {
		d := websocket.Dialer{Jar: c.hc.Jar, HandshakeTimeout: 10 * time.Second}
		ws, _, err := d.Dial("ws"+strings.TrimPrefix(f.ts.URL, "http")+"/api/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		ws.WriteJSON(shared.ClientMessage{Type: shared.MsgSubscribe, Run: run})
		return ws
	}
	ends := []struct {
		name string
		end  func(c *browser)
	}{
		{"logout", func(c *browser) { c.json("POST", "/api/logout", nil, nil) }},
		{"user deleted", func(c *browser) { adm.json("DELETE", "/api/users/"+astroUser, nil, nil) }},
		{"password changed", func(c *browser) {
			if err := f.st.SetPassword(context.Background(), adminUser, "a new long password"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, e := range ends {
		user := astroUser
		if e.name == "password changed" {
			user = adminUser
		}
		c := f.login(t, user)
		ws, other := dial(c), dial(adm)
		e.end(c)
		err := closedWith(t, ws)
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.ClosePolicyViolation || ce.Text != "session ended" {
			t.Errorf("%s: socket ended with %v, want 1008 session ended", e.name, err)
		}
		if e.name != "password changed" {
			// The other session's socket is untouched.
			other.WriteJSON(shared.ClientMessage{Type: "ping?"})
			other.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				var ev shared.Event
				if err := other.ReadJSON(&ev); err != nil {
					t.Fatalf("%s: the admin's socket closed too: %v", e.name, err)
				}
				if ev.Type == shared.EventError {
					break
				}
			}
		}
	}
}

// Subscribing to a run that does not exist is answered with an error,
// and one connection follows a bounded number of runs.
func TestHubRefusesUnknownRunsAndCapsSubscriptions(t *testing.T) {
	f := newFixture(t, HubOptions{MaxSubscriptions: 2})
	c := f.login(t, astroUser)
	runs := []int64{f.idleRun(t), f.idleRun(t), f.idleRun(t)}
	w := f.dial(t, c)
	w.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: 9999})
	w.waitFor(t, "an error for run 9999", func(ev shared.Event) bool {
		return ev.Type == shared.EventError && ev.Run == 9999 && strings.Contains(ev.Error, "no such run")
	})
	for _, r := range runs {
		w.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: r})
	}
	w.waitFor(t, "the third subscription refused", func(ev shared.Event) bool {
		return ev.Type == shared.EventError && ev.Run == runs[2] && strings.Contains(ev.Error, "at most 2 runs")
	})
	// Unsubscribing makes room; re-subscribing to a followed run costs none.
	w.send(t, shared.ClientMessage{Type: shared.MsgUnsubscribe, Run: runs[0]})
	w.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: runs[1]})
	w.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: runs[2]})
	w.waitFor(t, "the third run's replay", func(ev shared.Event) bool { return ev.Run == runs[2] && ev.Seq == 2 })
	f.settle(t, w)
	if n := errorsIn(w.events()); n != 3 {
		t.Errorf("%d errors, want 3 (unknown run, over the cap, settle)", n)
	}
	if n := f.hub.subscribers(9999); n != 0 {
		t.Errorf("%d clients subscribed to a run that does not exist", n)
	}
}
