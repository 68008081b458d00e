package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"runtime/debug"
)

// requestIDHeader carries each response's request id, which the log and
// the message of a 500 name too.
const requestIDHeader = "X-Request-Id"

// apiCSP is the Content-Security-Policy of everything the server answers
// itself (JSON, PNGs, the placeholder page): nothing may run or load but
// the placeholder's own style sheet. The app handler sets its own.
var apiCSP = "default-src 'none'; style-src 'sha256-" + hashOf(placeholderStyle) +
	"'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// permissionsPolicy turns off the browser features the portal never uses,
// for its pages and anything they might embed.
const permissionsPolicy = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(h[:])
}

// ServeHTTP serves the API and the app. Every response gets the security
// headers (HSTS only over TLS) and a request id; a panicking handler is
// logged with its stack under that id and answered with a plain 500,
// never with the panic's text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var id [8]byte
	rand.Read(id[:])
	h := w.Header()
	h.Set(requestIDHeader, hex.EncodeToString(id[:]))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", apiCSP)
	h.Set("Permissions-Policy", permissionsPolicy)
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler { // net/http's way to abort a response
			panic(p)
		}
		s.log.Error("server: handler panicked", "request", h.Get(requestIDHeader), "method", r.Method, "path", r.URL.Path,
			"panic", p, "stack", string(debug.Stack()))
		writeError(w, errors.New("panic")) // a generic 500; if the answer had begun, its client sees it cut short
	}()
	s.mux.ServeHTTP(w, r)
}
