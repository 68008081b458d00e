package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sslens/sslens/shared"
)

// serveReal serves f's server as serve does (HTTPServer on Listener)
// with short timeouts and connection cap n, returning its host:port.
func serveReal(t *testing.T, f *fixture, n int) string {
	t.Helper()
	f.srv.opt.Timeouts = Timeouts{ReadHeader: 300 * time.Millisecond, Read: 500 * time.Millisecond, Write: time.Second, Idle: time.Second}
	f.srv.opt.ConnsPerAddress = n
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := f.srv.HTTPServer()
	go hs.Serve(f.srv.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// cutOff reports whether the server answered or closed conn within d.
func cutOff(conn net.Conn, d time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := conn.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// A client trickling its body (slowloris) is cut off by the read
// timeout, while an upload at a fair rate may take longer than it, and a
// websocket outlives both timeouts.
func TestSlowClientsAreCutOff(t *testing.T) {
	f := newFixture(t, HubOptions{})
	addr := serveReal(t, f, 100)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", addr)
	go func() {
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := conn.Write([]byte("{")); err != nil {
				return
			}
		}
	}()
	if !cutOff(conn, 5*time.Second) {
		t.Error("a body trickled a byte every 50 ms held the connection for 5 s; the read timeout is 0.5 s")
	}

	// An upload sent in three parts over 1.2 s (beyond the 0.5 s read
	// timeout, far above the slowest rate uploads are allowed).
	c := f.login(t, astroUser)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("file", "slow.npy")
	w.Write(npyOf(testCutout(32, 32, 1)))
	mw.Close()
	pr, pw := io.Pipe()
	go func() {
		b := body.Bytes()
		for i := range 3 {
			pw.Write(b[i*len(b)/3 : (i+1)*len(b)/3])
			time.Sleep(400 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/uploads", pr)
	req.ContentLength = int64(body.Len())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set(shared.CSRFHeader, c.csrf)
	resp, err := c.hc.Do(req) // cookies are per host, not port: the session goes along
	if err != nil {
		t.Fatalf("a slow but fair upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a slow but fair upload: status %d", resp.StatusCode)
	}

	// A websocket idle past both timeouts still works.
	d := websocket.Dialer{Jar: c.hc.Jar, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/api/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	time.Sleep(1500 * time.Millisecond)
	if err := ws.WriteJSON(shared.ClientMessage{Type: "ping?"}); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ev shared.Event
	if err := ws.ReadJSON(&ev); err != nil || ev.Type != shared.EventError {
		t.Errorf("the websocket after 1.5 s idle: %+v, %v", ev, err)
	}
}

// One address holds at most ConnsPerAddress connections; one more is
// closed at once, and a freed slot is usable again.
func TestConnectionsPerAddressAreCapped(t *testing.T) {
	f := newFixture(t, HubOptions{})
	addr := serveReal(t, f, 2)
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		held = append(held, conn)
	}
	health := func(conn net.Conn) string {
		fmt.Fprintf(conn, "GET /api/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(conn).ReadString('\n')
		return strings.TrimSpace(line)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if got := health(extra); got != "" {
		t.Errorf("a third connection from one address was served: %q", got)
	}
	held[0].Close()
	got := ""
	for deadline := time.Now().Add(5 * time.Second); got != "HTTP/1.1 200 OK" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // until the server has noticed the close
		again, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		got = health(again)
		again.Close()
	}
	if got != "HTTP/1.1 200 OK" {
		t.Errorf("after one closed, a new connection got %q", got)
	}
}
