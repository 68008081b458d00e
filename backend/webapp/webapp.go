// Package webapp serves the sslens portal's user interface: the go-app
// handler that prerenders every page of app/ui on the server, and the
// static files of web/ with the WebAssembly build (web/app.wasm, made by
// `make wasm`) served gzipped.
//
// The server mounts Handler's result for every path outside /api/. The
// handler's Version is a hash of app.wasm, so a new build replaces the one
// the browser's service worker cached (go-app's worker serves from its
// cache first and uses Version as the ETag). Every response carries
// ContentSecurityPolicy.
package webapp

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/ui"
)

// Options configures Handler.
type Options struct {
	// WebDir is the folder holding app.wasm, sslens.css and the icons;
	// default "web" (the repository's web/, relative to the working
	// directory).
	WebDir string
}

// wasmLengthHeader carries app.wasm's uncompressed size, which go-app's
// loader divides by to show download progress (Content-Length is the
// gzipped size; the loader counts decompressed bytes).
const wasmLengthHeader = "X-Uncompressed-Length"

// registerRoutes registers the pages once per process: go-app's router is
// process-wide, and adding the pattern routes twice would list them twice.
// The server-side Env has no API client; only the browser loads data.
var registerRoutes = sync.OnceFunc(func() { ui.RegisterRoutes(ui.NewEnv(nil)) })

// Handler returns the portal's handler: pages (prerendered), go-app's
// scripts, the manifest and service worker, and /web/ (app.wasm gzipped
// when the browser accepts it). It reads and compresses app.wasm once,
// now; a missing build is an error that says how to make it.
func Handler(opts Options) (http.Handler, error) {
	dir := opts.WebDir
	if dir == "" {
		dir = "web"
	}
	wasmPath := filepath.Join(dir, "app.wasm")
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, fmt.Errorf("webapp: %w (build it with `make wasm`)", err)
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("webapp: %s: not a WebAssembly module (build it with `make wasm`)", wasmPath)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(wasm); err != nil {
		return nil, fmt.Errorf("webapp: compressing %s: %w", wasmPath, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("webapp: compressing %s: %w", wasmPath, err)
	}
	sum := sha256.Sum256(wasm)
	registerRoutes()

	return withPolicy(withNotFoundPage(&app.Handler{
		Name:        "sslens",
		ShortName:   "sslens",
		Title:       "sslens",
		Description: "Self-supervised learning on strong gravitational lensing cutouts",
		Lang:        "en",
		Icon: app.Icon{
			Default:    "/web/icon-192.png",
			Large:      "/web/icon-512.png",
			SVG:        "/web/icon.svg",
			AppleTouch: "/web/icon-192.png",
		},
		BackgroundColor:         "#0d1326",
		ThemeColor:              "#0d1326",
		LoadingLabel:            "Starting sslens… {progress}%",
		Styles:                  []string{"/web/sslens.css"},
		Version:                 hex.EncodeToString(sum[:8]),
		WasmContentLengthHeader: wasmLengthHeader,
		Resources: &resources{
			files: http.FileServer(http.Dir(dir)),
			wasm:  wasm,
			gz:    gz.Bytes(),
		},
	})), nil
}

// ContentSecurityPolicy is the strictest policy the go-app page works
// under. Scripts come only from this origin, with 'wasm-unsafe-eval' to
// compile app.wasm (never eval of text); style sheets only from this
// origin, while style attributes stay allowed because go-app sets
// component styles (progress widths, chart colours) with setAttribute;
// images from this origin and data: URLs (previews arrive as base64 PNGs);
// fetches and the websocket to this origin; the service worker and the
// manifest from it; no fonts (the style sheet uses the system's), plugins,
// frames, <base> or foreign form targets.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
	"worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// withNotFoundPage answers a browser's request for a path that is no page
// of the portal with a page in its style and a way back to the dashboard,
// instead of go-app's bare text; the status stays 404. Static files under
// /web/ and non-HTML requests keep h's answer.
func withNotFoundPage(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/web/") || !strings.Contains(r.Header.Get("Accept"), "text/html") {
			h.ServeHTTP(w, r)
			return
		}
		nw := &notFoundWriter{ResponseWriter: w}
		h.ServeHTTP(nw, r)
		if !nw.notFound {
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Del("Content-Length")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, notFoundHTML, html.EscapeString(r.URL.Path))
	})
}

// notFoundHTML is the page of an unknown path (%s, escaped).
const notFoundHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Page not found · sslens</title><link rel="stylesheet" href="/web/sslens.css"></head>
<body><main id="main" class="content" data-page="not-found"><section class="card">
<h1>Page not found</h1><p>sslens has no page at <code>%s</code>.</p>
<p><a class="button" href="/">Go to the dashboard</a></p></section></main></body></html>
`

// notFoundWriter passes a response through unless its status is 404, which
// it swallows, body included, for withNotFoundPage to answer.
type notFoundWriter struct {
	http.ResponseWriter
	notFound bool
}

func (n *notFoundWriter) WriteHeader(code int) {
	if code == http.StatusNotFound {
		n.notFound = true
		return
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *notFoundWriter) Write(b []byte) (int, error) {
	if n.notFound {
		return len(b), nil
	}
	return n.ResponseWriter.Write(b)
}

// withPolicy sets ContentSecurityPolicy on every response of h.
func withPolicy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		h.ServeHTTP(w, r)
	})
}

// wasmWriteTime is how long app.wasm (a few MB gzipped) may take to send,
// beyond the server's write timeout: enough at about 20 KB/s.
const wasmWriteTime = 5 * time.Minute

// resources is the handler's static resource provider: /web/ from the web
// folder, app.wasm from memory.
type resources struct {
	files    http.Handler
	wasm, gz []byte
}

func (r *resources) Package() string { return "" }
func (r *resources) Static() string  { return "" }
func (r *resources) AppWASM() string { return "/web/app.wasm" }

func (r *resources) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case req.URL.Path == "/web/app.wasm":
		h := w.Header()
		h.Set("Content-Type", "application/wasm")
		h.Set("Vary", "Accept-Encoding")
		h.Set(wasmLengthHeader, strconv.Itoa(len(r.wasm)))
		body := r.wasm
		if acceptsGzip(req) {
			h.Set("Content-Encoding", "gzip")
			body = r.gz
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wasmWriteTime)) // not supported by test recorders
		if req.Method != http.MethodHead {
			w.Write(body)
		}
	case strings.HasSuffix(req.URL.Path, "/"):
		http.NotFound(w, req) // no directory listings
	default:
		http.StripPrefix("/web", r.files).ServeHTTP(w, req)
	}
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip
// (named or as *, with a q value above 0).
func acceptsGzip(req *http.Request) bool {
	for _, part := range strings.Split(req.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(part, ";")
		if name = strings.TrimSpace(name); name != "gzip" && name != "*" {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		return q > 0
	}
	return false
}
