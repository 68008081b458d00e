package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sslens/sslens/shared"
)

// Every response carries the security headers; HSTS only over TLS.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, HubOptions{})
	for _, path := range []string{"/api/health", "/", "/api/nope"} {
		resp := f.anon(t).request("GET", path, nil, "")
		resp.Body.Close()
		h := resp.Header
		if h.Get("Content-Security-Policy") != apiCSP || !strings.Contains(apiCSP, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, h.Get("Content-Security-Policy"))
		}
		if !strings.Contains(h.Get("Permissions-Policy"), "camera=()") || len(h.Get(requestIDHeader)) != 16 {
			t.Errorf("%s: Permissions-Policy %q, request id %q", path, h.Get("Permissions-Policy"), h.Get(requestIDHeader))
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", path)
		}
	}
	ts := httptest.NewTLSServer(f.srv)
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS over TLS: %q", resp.Header.Get("Strict-Transport-Security"))
	}
}

// A panicking handler's text and stack go to the log under the request
// id; the client gets a plain 500 naming that id.
func TestPanicsStayInTheLog(t *testing.T) {
	f := newFixture(t, HubOptions{})
	var logged bytes.Buffer
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("secret /srv/sslens/data detail") })
	srv, err := New(Options{DataDir: f.dir, Store: f.st, Jobs: f.mgr, Hub: f.hub, App: app, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/anything", nil))
	id := rec.Header().Get(requestIDHeader)
	var e shared.Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != 500 || e.Err.Code != shared.CodeInternal {
		t.Fatalf("answer %d %q", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret") || !strings.Contains(e.Err.Message, id) {
		t.Errorf("message %q: want the request id %s and no panic text", e.Err.Message, id)
	}
	if log := logged.String(); !strings.Contains(log, "secret /srv/sslens/data detail") || !strings.Contains(log, "goroutine") || !strings.Contains(log, id) {
		t.Errorf("the log lacks the panic, its stack or the request id:\n%s", log)
	}
}

// Error messages are cut to shared.MaxMessageBytes at a rune boundary.
func TestErrorMessagesAreCapped(t *testing.T) {
	long := strings.Repeat("HDU 7: shape (3, 64, 64) é; ", 500)
	rec := httptest.NewRecorder()
	writeError(rec, errInvalid(long, shared.FieldError{Key: "file", Message: long}))
	var e shared.Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{e.Err.Message, e.Err.Fields[0].Message} {
		if len(m) > shared.MaxMessageBytes || !utf8.ValidString(m) || !strings.HasSuffix(m, "…") || !strings.HasPrefix(long, strings.TrimSuffix(m, "…")) {
			t.Errorf("capped message of %d bytes: ...%q", len(m), m[max(0, len(m)-20):])
		}
	}
	if shared.CapMessage("short") != "short" {
		t.Error("a short message was changed")
	}
}
