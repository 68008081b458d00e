package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sslens/sslens/shared"
)

// flakyHub is a websocket server with a fixed event log for run 5. Each
// connection replays the events after the subscription's After, but the
// first connection dies after three events, and the second also resends
// the third (a server may; the client must not deliver it twice).
type flakyHub struct {
	mu     sync.Mutex
	conns  int
	afters []int64
	log    []shared.Event
}

func (h *flakyHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	_, b, err := c.Read(r.Context())
	if err != nil {
		return
	}
	var m shared.ClientMessage
	if json.Unmarshal(b, &m) != nil || m.Type != shared.MsgSubscribe || m.Run != 5 {
		c.Close(websocket.StatusPolicyViolation, "bad subscription")
		return
	}
	h.mu.Lock()
	h.conns++
	n := h.conns
	h.afters = append(h.afters, m.After)
	h.mu.Unlock()

	from := m.After
	if n == 2 {
		from-- // resend one already seen
	}
	for _, ev := range h.log {
		if ev.Seq <= from {
			continue
		}
		if n == 1 && ev.Seq > 3 {
			return // the server "restarts"
		}
		b, _ := json.Marshal(ev)
		if c.Write(r.Context(), websocket.MessageText, b) != nil {
			return
		}
	}
	<-r.Context().Done() // stay live until the client leaves
}

func TestWatchReconnectsAndCatchesUp(t *testing.T) {
	hub := &flakyHub{}
	for seq := int64(1); seq <= 6; seq++ {
		loss := float64(seq)
		hub.log = append(hub.log, shared.Event{Type: shared.EventMetric, Run: 5, Seq: seq,
			Metric: &shared.Metric{Seq: int(seq), Kind: shared.MetricStep, Step: int(seq), Loss: &loss}})
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		mu       sync.Mutex
		got      []int64
		connects int
		drops    int
	)
	done := make(chan struct{})
	c := New(srv.URL, nil)
	err := c.Watch(ctx, Watch{
		Run: 5,
		OnEvents: func(evs []shared.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range evs {
				got = append(got, ev.Seq)
			}
			if len(got) >= 6 {
				close(done)
				cancel()
			}
		},
		OnConnect:    func() { mu.Lock(); connects++; mu.Unlock() },
		OnDisconnect: func(error) { mu.Lock(); drops++; mu.Unlock() },
		MinBackoff:   10 * time.Millisecond,
	})
	select {
	case <-done:
	default:
		t.Fatalf("Watch returned %v before all events arrived; got %v", err, got)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int64{1, 2, 3, 4, 5, 6}; !reflect.DeepEqual(got, want) {
		t.Errorf("delivered seqs %v, want %v", got, want)
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if want := []int64{0, 3}; !reflect.DeepEqual(hub.afters, want) {
		t.Errorf("subscriptions asked after %v, want %v", hub.afters, want)
	}
	if connects != 2 || drops != 1 {
		t.Errorf("connects %d drops %d, want 2 and 1", connects, drops)
	}
}

func TestDedupe(t *testing.T) {
	last := map[int64]int64{1: 2}
	in := []shared.Event{
		{Run: 1, Seq: 2}, {Run: 1, Seq: 3}, {Run: 2, Seq: 1}, {Run: 0, Seq: 0, Type: shared.EventError},
		{Run: 1, Seq: 3}, {Run: 2, Seq: 2},
	}
	got := dedupe(in, last)
	want := []shared.Event{{Run: 1, Seq: 3}, {Run: 2, Seq: 1}, {Run: 0, Seq: 0, Type: shared.EventError}, {Run: 2, Seq: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dedupe = %+v\nwant %+v", got, want)
	}
	if last[1] != 3 || last[2] != 2 {
		t.Errorf("last = %v", last)
	}
}
