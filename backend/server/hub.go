package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// HubOptions tune the websocket hub.
type HubOptions struct {
	Buffer    int           // events queued per client before it counts as too slow; default 256
	PingEvery time.Duration // default 20 s
	PongWait  time.Duration // default 60 s: a client silent this long is dropped
	WriteWait time.Duration // default 10 s: a write taking longer drops the client
	// SessionCheck is how often a connection's session is looked up
	// again: one that ended without the hub being told (expiry, a
	// password changed from the command line) closes within it. Default
	// 30 s.
	SessionCheck time.Duration
	// MaxSubscriptions caps the runs one connection follows; default 100.
	MaxSubscriptions int
}

// Hub fans run events out to websocket clients. It implements
// jobs.Notifier: Notify never blocks, so a slow client cannot slow a job;
// a client whose buffer is full is disconnected instead, and catches up
// from the store when it reconnects. A connection lives no longer than
// its session: signing out, deleting the user or the session's end
// closes it.
type Hub struct {
	st  *store.Store
	opt HubOptions

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
}

// NewHub returns a hub that replays missed events from st.
func NewHub(st *store.Store, opt HubOptions) *Hub {
	if opt.Buffer <= 0 {
		opt.Buffer = 256
	}
	if opt.PingEvery <= 0 {
		opt.PingEvery = 20 * time.Second
	}
	if opt.PongWait <= 0 {
		opt.PongWait = 60 * time.Second
	}
	if opt.WriteWait <= 0 {
		opt.WriteWait = 10 * time.Second
	}
	if opt.SessionCheck <= 0 {
		opt.SessionCheck = 30 * time.Second
	}
	if opt.MaxSubscriptions <= 0 {
		opt.MaxSubscriptions = 100
	}
	return &Hub{st: st, opt: opt, clients: map[*client]struct{}{}}
}

// client is one websocket connection. Only its writer goroutine writes to
// conn and touches last; subs is guarded by the hub's mutex.
type client struct {
	conn   *websocket.Conn
	token  string // the session cookie it was opened with
	user   string
	send   chan outgoing
	ctrl   chan shared.ClientMessage
	kicked chan struct{} // closed when the hub drops the client, why says why
	why    string
	gone   chan struct{} // closed when the writer has returned
	subs   map[int64]bool
	last   map[int64]int64 // per-run subscriptions: the last seq sent
	all    bool            // subscribed to every run (writer's copy of subs[0])
	view   runView         // what its user may see of each event
}

// outgoing is an item of a client's send queue: an event, or a flush
// marker that the writer closes when it reaches it.
type outgoing struct {
	ev      shared.Event
	flushed chan struct{}
}

// Notify queues ev for every client subscribed to its run.
func (h *Hub) Notify(ev shared.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if !c.subs[0] && !c.subs[ev.Run] {
			continue
		}
		select {
		case c.send <- outgoing{ev: ev}:
		default:
			h.drop(c, "too slow")
		}
	}
}

// drop disconnects c, telling it why in the close frame its writer sends;
// the caller holds h.mu.
func (h *Hub) drop(c *client, why string) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	c.why = why
	close(c.kicked)
}

// EndSession disconnects the clients of a session (a cookie token) that
// has ended.
func (h *Hub) EndSession(token string) { h.end(func(c *client) bool { return c.token == token }) }

// EndUser disconnects every client of a user.
func (h *Hub) EndUser(name string) { h.end(func(c *client) bool { return c.user == name }) }

// end disconnects the clients whose session has ended.
func (h *Hub) end(ended func(*client) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if ended(c) {
			h.drop(c, "session ended")
		}
	}
}

// Flush returns once every connected client's writer has handled (sent
// or dropped) each event notified before the call, or when ctx is done.
// After it, an event a client has not been sent will not be sent: tests
// use it to check that something did not happen.
func (h *Hub) Flush(ctx context.Context) error {
	h.mu.Lock()
	cs := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		mark := outgoing{flushed: make(chan struct{})}
		select {
		case c.send <- mark:
		case <-c.gone:
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-mark.flushed:
		case <-c.gone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Clients returns the number of connected clients.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Close disconnects every client (server shutdown) and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		c.conn.Close()
		delete(h.clients, c)
	}
}

func (h *Hub) subscribe(c *client, run int64, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		c.subs[run] = true
	} else {
		delete(c.subs, run)
	}
}

// serveWS upgrades the request (the route checked the session and the
// origin already) and runs the connection until it ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, c *Call) error {
	up := websocket.Upgrader{
		ReadBufferSize: 1024, WriteBufferSize: 4096,
		CheckOrigin: s.sameOrigin,
	}
	ck, _ := r.Cookie(SessionCookie) // present: the route needs a session
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil // Upgrade has answered the client
	}
	s.opt.Hub.run(conn, ck.Value, c.User(), s.viewOf(c))
	return nil
}

// run serves one connection of a session (its cookie token and user): a
// reader goroutine decodes client messages and this goroutine writes.
func (h *Hub) run(conn *websocket.Conn, token, user string, view runView) {
	c := &client{
		conn: conn, token: token, user: user, send: make(chan outgoing, h.opt.Buffer), ctrl: make(chan shared.ClientMessage, 16),
		kicked: make(chan struct{}), gone: make(chan struct{}), subs: map[int64]bool{}, last: map[int64]int64{}, view: view,
	}
	defer close(c.gone)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		conn.Close()
		return
	}
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.clients, c)
		h.mu.Unlock()
		conn.Close()
	}()

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		conn.SetReadLimit(4096)
		conn.SetReadDeadline(time.Now().Add(h.opt.PongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(h.opt.PongWait)) })
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m shared.ClientMessage
			if err := json.Unmarshal(b, &m); err != nil || (m.Type != shared.MsgSubscribe && m.Type != shared.MsgUnsubscribe) || m.Run < 0 {
				m = shared.ClientMessage{Type: "invalid"}
			}
			select {
			case c.ctrl <- m:
			default:
				return // a client flooding requests is dropped
			}
		}
	}()

	ping := time.NewTicker(h.opt.PingEvery)
	defer ping.Stop()
	recheck := time.NewTicker(h.opt.SessionCheck)
	defer recheck.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		var err error
		select {
		case o := <-c.send:
			if o.flushed != nil {
				close(o.flushed)
				continue
			}
			err = h.deliver(ctx, c, o.ev)
		case m := <-c.ctrl:
			err = h.control(ctx, c, m)
		case <-ping.C:
			err = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opt.WriteWait))
		case <-recheck.C:
			if _, err := h.st.SessionByToken(ctx, token); errors.Is(err, store.ErrNotFound) {
				h.end(func(o *client) bool { return o == c })
			}
		case <-c.kicked:
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, c.why), time.Now().Add(time.Second))
			return
		case <-readDone:
			return
		}
		if err != nil {
			return
		}
	}
}

// control applies a client message. A subscription to a run that does
// not exist, or beyond HubOptions.MaxSubscriptions, is answered with an
// error event naming the run.
func (h *Hub) control(ctx context.Context, c *client, m shared.ClientMessage) error {
	switch m.Type {
	case shared.MsgSubscribe:
		if m.Run == 0 {
			h.subscribe(c, 0, true)
			c.all = true
			return nil
		}
		if _, ok := c.last[m.Run]; !ok && len(c.last) >= h.opt.MaxSubscriptions {
			return h.refuse(c, m.Run, fmt.Sprintf("not subscribed to run %d: a connection follows at most %d runs; unsubscribe from one first", m.Run, h.opt.MaxSubscriptions))
		}
		if _, err := h.st.Run(ctx, m.Run); errors.Is(err, store.ErrNotFound) {
			return h.refuse(c, m.Run, fmt.Sprintf("not subscribed to run %d: there is no such run", m.Run))
		} else if err != nil {
			return err
		}
		h.subscribe(c, m.Run, true)
		// Subscribed before reading the store: whatever is stored after
		// the read arrives live; overlaps are dropped by seq.
		c.last[m.Run] = max(m.After, 0)
		return h.catchUp(ctx, c, m.Run, 1<<62)
	case shared.MsgUnsubscribe:
		h.subscribe(c, m.Run, false)
		delete(c.last, m.Run)
		c.all = c.all && m.Run != 0
		return nil
	}
	return h.refuse(c, 0, `bad message: want {"type": "subscribe" or "unsubscribe", "run": N, "after": SEQ}`)
}

// refuse answers a client message with an error event (seq 0).
func (h *Hub) refuse(c *client, run int64, msg string) error {
	return h.write(c, shared.Event{Type: shared.EventError, Run: run, Time: time.Now().UTC(), Error: msg})
}

// deliver sends a live event, first filling any gap before it from the
// store (events of one run can be notified out of order by different
// goroutines) and dropping one already sent.
func (h *Hub) deliver(ctx context.Context, c *client, ev shared.Event) error {
	last, perRun := c.last[ev.Run]
	switch {
	case !perRun && c.all:
		return h.write(c, ev) // an all-runs subscription: live only
	case !perRun:
		return nil // queued before an unsubscribe
	}
	if ev.Seq <= last {
		return nil
	}
	if ev.Seq > last+1 {
		if err := h.catchUp(ctx, c, ev.Run, ev.Seq-1); err != nil {
			return err
		}
	}
	c.last[ev.Run] = ev.Seq
	return h.write(c, ev)
}

// catchUp sends the stored events of run after the last one sent, up to
// seq upto.
func (h *Hub) catchUp(ctx context.Context, c *client, run, upto int64) error {
	const page = 500
	for c.last[run] < upto {
		evs, err := h.st.Events(ctx, run, c.last[run], page)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Seq > upto {
				return nil
			}
			if err := h.write(c, ev); err != nil {
				return err
			}
			c.last[run] = ev.Seq
		}
		if len(evs) < page {
			return nil
		}
	}
	return nil
}

func (h *Hub) write(c *client, ev shared.Event) error {
	c.conn.SetWriteDeadline(time.Now().Add(h.opt.WriteWait))
	return c.conn.WriteJSON(c.view.event(ev))
}
