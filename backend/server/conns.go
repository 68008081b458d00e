package server

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Timeouts bound how long one connection may hold the server. A client
// that trickles its request (slowloris) is cut off after Read; one that
// reads its answer too slowly after Write. The websocket and downloads of
// unbounded size (Route.Stream) lift the write deadline; routes taking
// bodies larger than JSON extend the read deadline by their size at
// minBodyRate.
type Timeouts struct {
	ReadHeader time.Duration // request line and headers; default 10 s
	Read       time.Duration // the whole request, body included; default 15 s
	Write      time.Duration // from the end of the headers to the end of the answer; default 60 s
	Idle       time.Duration // a kept-alive connection between requests; default 120 s
}

var defaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 15 * time.Second, Write: 60 * time.Second, Idle: 120 * time.Second}

// minBodyRate is the slowest upload, in bytes a second, that a route with
// a large body limit waits for: 50 MB get 15 s + 200 s.
const minBodyRate = 256 << 10

// defaultConnsPerAddress caps concurrent connections from one client
// address: a browser opens about 6 per site plus a websocket, and a few
// dozen people may share an address.
const defaultConnsPerAddress = 100

// HTTPServer returns the http.Server that serves s with its timeouts;
// serve it on s.Listener(ln).
func (s *Server) HTTPServer() *http.Server {
	t := s.opt.Timeouts
	return &http.Server{Handler: s, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
}

// extendRead gives a route whose body may be larger than JSON the time
// to receive it at minBodyRate.
func (s *Server) extendRead(w http.ResponseWriter, limit int64) {
	if limit > maxJSONBytes {
		d := s.opt.Timeouts.Read + time.Duration(limit/minBodyRate)*time.Second
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(d)) // unsupported by test recorders: no deadline there
	}
}

// liftDeadlines frees a streaming route (websocket, download) from the
// server's read and write timeouts; it keeps its own (the hub's pings).
func liftDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
}

// Listener caps the connections ln accepts from one client address at
// Options.ConnsPerAddress: one over the cap is closed at once. Trusted
// proxies are not capped (they carry every client's connections).
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &capListener{Listener: ln, s: s, open: map[string]int{}}
}

type capListener struct {
	net.Listener
	s *Server

	mu   sync.Mutex
	open map[string]int // connections open per addrKey
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a := addrOf(c.RemoteAddr().String())
		if l.s.trusted(a) {
			return c, nil
		}
		key := addrKey(a)
		l.mu.Lock()
		if l.open[key] >= l.s.opt.ConnsPerAddress {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[key]++
		full := l.open[key] == l.s.opt.ConnsPerAddress
		l.mu.Unlock()
		if full { // logged once each time the cap fills, not per refusal
			l.s.log.Warn("server: refusing further connections from an address at its cap", "addr", key, "max", l.s.opt.ConnsPerAddress)
		}
		return &cappedConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

func (l *capListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// cappedConn gives its slot back when closed, however often Close is
// called (the server and a hijacking websocket may both close it).
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
