package webapp

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sslens/sslens/app/ui"
)

// fakeWeb serves a web folder with a small stand-in app.wasm and returns
// the handler and the wasm bytes.
func fakeWeb(t *testing.T) (http.Handler, []byte) {
	t.Helper()
	dir := t.TempDir()
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("sslens "), 4000)...)
	for name, body := range map[string][]byte{
		"app.wasm":   wasm,
		"sslens.css": []byte("body{}"),
		"icon.svg":   []byte("<svg/>"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Handler(Options{WebDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return h, wasm
}

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWasmServedGzipped(t *testing.T) {
	h, wasm := fakeWeb(t)
	tests := []struct {
		name, accept string
		gzipped      bool
	}{
		{"gzip", "gzip, deflate, br", true},
		{"any", "*", true},
		{"refused", "gzip;q=0, identity", false},
		{"none", "", false},
	}
	for _, tt := range tests {
		r := get(t, h, "/web/app.wasm", "Accept-Encoding", tt.accept)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/wasm" {
			t.Fatalf("%s: status %d type %q", tt.name, r.StatusCode, r.Header.Get("Content-Type"))
		}
		if got := r.Header.Get(wasmLengthHeader); got != strconv.Itoa(len(wasm)) {
			t.Errorf("%s: %s = %q, want %d", tt.name, wasmLengthHeader, got, len(wasm))
		}
		raw := []byte(body(t, r))
		if tt.gzipped {
			if r.Header.Get("Content-Encoding") != "gzip" || len(raw) >= len(wasm) {
				t.Errorf("%s: encoding %q, %d bytes for %d", tt.name, r.Header.Get("Content-Encoding"), len(raw), len(wasm))
				continue
			}
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ = io.ReadAll(zr)
		} else if r.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: encoding %q, want none", tt.name, r.Header.Get("Content-Encoding"))
		}
		if !bytes.Equal(raw, wasm) {
			t.Errorf("%s: served wasm differs from web/app.wasm", tt.name)
		}
	}
}

// Every page of the app prerenders on the server, with the local icon,
// the style sheet, the loading screen, and the wasm hash as version.
func TestPagesPrerender(t *testing.T) {
	h, _ := fakeWeb(t)
	for _, rt := range ui.Routes {
		r := get(t, h, rt.Example)
		html := body(t, r)
		if r.StatusCode != 200 {
			t.Errorf("%s: status %d", rt.Example, r.StatusCode)
			continue
		}
		for _, want := range []string{`data-page="`, `href="/web/sslens.css"`, `/web/icon.svg`, "Starting sslens"} {
			if !strings.Contains(html, want) {
				t.Errorf("%s: page lacks %s", rt.Example, want)
			}
		}
		if strings.Contains(html, "githubusercontent") {
			t.Errorf("%s: page points at a remote icon", rt.Example)
		}
	}

	version := get(t, h, "/").Header.Get("ETag")
	js := body(t, get(t, h, "/app.js"))
	if len(version) != 18 || !strings.Contains(js, strings.Trim(version, `"`)) {
		t.Errorf("ETag %s is not the version app.js carries", version)
	}
	if r := get(t, h, "/", "If-None-Match", version); r.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", r.StatusCode)
	}
}

func TestNotFoundAndStatic(t *testing.T) {
	h, _ := fakeWeb(t)
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/web/sslens.css", 200, "body{}"},
		{"/web/", 404, ""},
		{"/web/missing.css", 404, ""},
		{"/no-such-page", 404, ""},
		{"/runs/abc", 404, ""},
		{"/datasets/1/images/lenses", 404, ""},
	}
	for _, tt := range tests {
		r := get(t, h, tt.path)
		if r.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.path, r.StatusCode, tt.status)
		}
		if b := body(t, r); tt.body != "" && b != tt.body {
			t.Errorf("%s: body %q, want %q", tt.path, b, tt.body)
		}
	}
}

func TestMissingWasm(t *testing.T) {
	dir := t.TempDir()
	_, err := Handler(Options{WebDir: dir})
	if err == nil || !strings.Contains(err.Error(), "make wasm") || !strings.Contains(err.Error(), "app.wasm") {
		t.Errorf("err = %v, want one naming app.wasm and make wasm", err)
	}
	os.WriteFile(filepath.Join(dir, "app.wasm"), []byte("<html>not wasm</html>"), 0o644)
	if _, err := Handler(Options{WebDir: dir}); err == nil || !strings.Contains(err.Error(), "not a WebAssembly module") {
		t.Errorf("err = %v, want a bad-module error", err)
	}
}

// Every response carries the Content-Security-Policy, and the pages keep
// within it: every script is a file of this origin (no inline code, no
// eval), and no inline style sheet.
func TestPagesUnderContentSecurityPolicy(t *testing.T) {
	h, _ := fakeWeb(t)
	for _, bad := range []string{"'unsafe-eval'", "script-src 'self' 'unsafe-inline'", "*"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("the policy allows %s", bad)
		}
	}
	paths := []string{"/web/app.wasm", "/app.js", "/app-worker.js", "/manifest.webmanifest", "/web/sslens.css"}
	for _, rt := range ui.Routes {
		paths = append(paths, rt.Example)
	}
	tag := regexp.MustCompile(`<(script|style)\b[^>]*>`)
	for _, p := range paths {
		r := get(t, h, p)
		if got := r.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("%s: Content-Security-Policy %q", p, got)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			continue
		}
		for _, m := range tag.FindAllStringSubmatch(body(t, r), -1) {
			if m[1] == "style" || !strings.Contains(m[0], ` src="/`) {
				t.Errorf("%s: inline %s outside the policy", p, m[0])
			}
		}
	}
}

// A browser asking for a path that is no page gets a page saying so, with
// the path escaped and a way back, and the status 404.
func TestNotFoundPage(t *testing.T) {
	h, _ := fakeWeb(t)
	for _, path := range []string{"/no-such-page", "/runs/abc", "/x%3Cb%3E"} {
		r := get(t, h, path, "Accept", "text/html,application/xhtml+xml")
		b := body(t, r)
		if r.StatusCode != 404 || !strings.Contains(b, "Page not found") || !strings.Contains(b, `href="/"`) ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || strings.Contains(b, "<b>") {
			t.Errorf("%s: %d %q\n%s", path, r.StatusCode, r.Header.Get("Content-Type"), b)
		}
	}
	// Known pages are untouched.
	if r := get(t, h, "/runs", "Accept", "text/html"); r.StatusCode != 200 || strings.Contains(body(t, r), "Page not found") {
		t.Errorf("/runs: %d", r.StatusCode)
	}
}
