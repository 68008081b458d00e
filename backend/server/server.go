// Package server is the portal's HTTP API under /api/ (JSON), its
// websocket hub at /api/ws, and the mounting point of the web app at /.
// API.md beside this file lists every route; the bodies are the types of
// the project's shared/ package.
//
// Every route is declared once, in the table Routes returns, with the
// role it needs; the same wrapper applies authentication (a session
// cookie), the role check, CSRF protection (an X-CSRF-Token header equal
// to the session's token, and an allowed Origin when the browser sends
// one), a body size limit and the connection deadlines to every route, so
// a new route cannot skip them. Handlers return errors; the wrapper writes
// them as shared.Error, and every response gets the security headers (see
// ServeHTTP).
package server

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/backend/uploads"
	"github.com/sslens/sslens/shared"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "sslens_session"

// maxJSONBytes bounds JSON request bodies.
const maxJSONBytes = 1 << 20

// Model scores and embeds cutouts with a checkpoint. jobs.Tool, which runs
// `sslens score` and `sslens embed`, is the one serve uses; tests use
// stand-ins.
type Model = uploads.Model

// Jobs is what the server asks of the job queue; *jobs.Manager is it.
type Jobs interface {
	Submit(ctx context.Context, sub jobs.Submission) (store.Run, error)
	Cancel(ctx context.Context, id int64) (store.Run, error)
	Resume(ctx context.Context, id int64) (store.Run, error)
	// OnCluster reports whether jobs run on a cluster (survey shards).
	OnCluster() bool
}

// UploadLimits bound one upload request.
type UploadLimits struct {
	RequestBytes int64 // whole request body; default 50 MB
	Files        int   // files, zip members included; default 1,000
	ZipBytes     int64 // uncompressed bytes of one zip archive; default 64 MB
	// ArchiveBytes bounds an archive of survey cutouts an admin uploads to
	// import as a dataset; default 20 GB.
	ArchiveBytes int64
}

// defaultUploadLimits are the limits of the API reference.
var defaultUploadLimits = UploadLimits{RequestBytes: 50 << 20, Files: 1000, ZipBytes: 64 << 20, ArchiveBytes: 20 << 30}

// Options configure a Server.
type Options struct {
	DataDir string // absolute; datasets, runs, uploads and caches live here
	Store   *store.Store
	Jobs    Jobs
	Hub     *Hub
	Model   Model
	// Configs holds the shipped experiment configs (*.yaml and
	// reference/*.yaml), offered as templates.
	Configs fs.FS
	// App serves every path outside /api/; nil serves a placeholder page.
	App http.Handler
	// Secure marks cookies Secure (set when serving over TLS).
	Secure bool
	// Origins lists the public origins browsers may use the portal from
	// ("https://portal.example.org"), besides the address a connection
	// came in on (http://IP:port, and localhost on loopback).
	Origins []string
	// TrustedProxies are the reverse proxies whose ProxyHeader (default
	// X-Forwarded-For) names the client; from any other peer the header
	// is ignored.
	TrustedProxies []netip.Prefix
	ProxyHeader    string
	Timeouts       Timeouts // zero fields take the defaults
	// ConnsPerAddress caps concurrent connections from one client
	// address (see Listener); default 100.
	ConnsPerAddress int
	SessionTTL      time.Duration // default 7 days
	Uploads         UploadLimits  // zero fields take the defaults
	// LoginFailures failed sign-ins of one user from one client address
	// (four times as many of any users from one address) cost nothing;
	// each further one doubles the wait before the next attempt, from
	// LoginBackoff up to LoginWindow. Defaults 5, 1 s and 5 minutes.
	LoginFailures int
	LoginBackoff  time.Duration
	LoginWindow   time.Duration
	// JobMemory is the memory, in bytes, one training job may take: a
	// config whose step cannot fit is refused, the others run with the
	// largest micro-batch that fits (see jobs.Options.JobMemory). 0: no
	// limit.
	JobMemory int64
	// ScoreWorkers bounds concurrent scoring processes; default 1.
	ScoreWorkers int
	// GPUs is how many GPUs jobs may use (jobs.Options.GPUs): a classifier
	// config with experiment.device cuda is refused when there are none.
	GPUs int
	// OpenGrading shows candidates' grades to users who have not graded
	// them yet (uploads.Options.OpenGrading).
	OpenGrading bool
	Version     string
	Log         *slog.Logger
}

// Server is the portal's HTTP handler.
type Server struct {
	opt Options
	st  *store.Store
	log *slog.Logger
	mux *http.ServeMux
	// Failed sign-ins slow down the (user, address) pair and, more
	// loosely (people share addresses), the address.
	pairLimit, addrLimit *backoff
	origins              map[string]bool // Options.Origins, normalised
	sets                 *datasetCache
	up                   *uploads.Service

	pngs    *pngCache   // rendered PNGs on disk, bounded, least recently used evicted
	renders renderSlots // bounds concurrent decodes and renders
}

// New returns a server. Options.Store, Jobs and Hub are required.
func New(opt Options) (*Server, error) {
	if opt.Store == nil || opt.Jobs == nil || opt.Hub == nil {
		return nil, errors.New("server: Store, Jobs and Hub are required")
	}
	if !filepath.IsAbs(opt.DataDir) {
		return nil, fmt.Errorf("server: data folder %q is not absolute", opt.DataDir)
	}
	if opt.SessionTTL == 0 {
		opt.SessionTTL = 7 * 24 * time.Hour
	}
	def := defaultUploadLimits
	if opt.Uploads.RequestBytes == 0 {
		opt.Uploads.RequestBytes = def.RequestBytes
	}
	if opt.Uploads.Files == 0 {
		opt.Uploads.Files = def.Files
	}
	if opt.Uploads.ArchiveBytes == 0 {
		opt.Uploads.ArchiveBytes = def.ArchiveBytes
	}
	if opt.Uploads.ZipBytes == 0 {
		opt.Uploads.ZipBytes = def.ZipBytes
	}
	if opt.LoginFailures == 0 {
		opt.LoginFailures = 5
	}
	if opt.LoginBackoff == 0 {
		opt.LoginBackoff = time.Second
	}
	if opt.LoginWindow == 0 {
		opt.LoginWindow = 5 * time.Minute
	}
	opt.ProxyHeader = cmp.Or(opt.ProxyHeader, DefaultProxyHeader)
	opt.Timeouts.ReadHeader = cmp.Or(opt.Timeouts.ReadHeader, defaultTimeouts.ReadHeader)
	opt.Timeouts.Read = cmp.Or(opt.Timeouts.Read, defaultTimeouts.Read)
	opt.Timeouts.Write = cmp.Or(opt.Timeouts.Write, defaultTimeouts.Write)
	opt.Timeouts.Idle = cmp.Or(opt.Timeouts.Idle, defaultTimeouts.Idle)
	opt.ConnsPerAddress = cmp.Or(opt.ConnsPerAddress, defaultConnsPerAddress)
	origins := map[string]bool{}
	for _, o := range opt.Origins {
		n := normOrigin(o)
		if n == "" {
			return nil, fmt.Errorf("server: origin %q: want scheme://host[:port] with scheme http or https", o)
		}
		origins[n] = true
	}
	if opt.ScoreWorkers == 0 {
		opt.ScoreWorkers = 1
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	s := &Server{
		opt: opt, st: opt.Store, log: opt.Log, mux: http.NewServeMux(),
		pairLimit: newBackoff(opt.LoginFailures, opt.LoginBackoff, opt.LoginWindow),
		addrLimit: newBackoff(4*opt.LoginFailures, opt.LoginBackoff, opt.LoginWindow),
		origins:   origins,
		sets:      newDatasetCache(),
		pngs:      newPNGCache(filepath.Join(opt.DataDir, "cache", "png"), defaultPNGCacheBytes, opt.Log),
		renders:   newRenderSlots(defaultRenderSlots()),
		up: uploads.New(uploads.Options{DataDir: opt.DataDir, Store: opt.Store, Model: opt.Model,
			Limits: uploads.Limits{Files: opt.Uploads.Files, ZipBytes: opt.Uploads.ZipBytes}, ScoreWorkers: opt.ScoreWorkers, Log: opt.Log,
			OpenGrading: opt.OpenGrading}),
	}
	for _, rt := range s.Routes() {
		s.mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
	}
	app := opt.App
	if app == nil {
		app = http.HandlerFunc(placeholder)
	}
	s.mux.Handle("/", app)
	// An unknown /api/ path is a JSON 404, not the app.
	s.mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("no API route %s %s", r.Method, r.URL.Path))
	}))
	return s, nil
}

// Route is one API endpoint.
type Route struct {
	Method  string
	Pattern string      // a net/http pattern path: /api/runs/{id}
	Role    shared.Role // "" for public routes
	// MaxBody bounds the request body; 0 means maxJSONBytes.
	MaxBody int64
	// Stream marks a route that holds its connection (the websocket) or
	// sends a download of unbounded size: the server's read and write
	// timeouts do not apply to it.
	Stream bool
	Handle func(w http.ResponseWriter, r *http.Request, c *Call) error
}

// Call is what a handler knows about the request besides itself.
type Call struct {
	Session *store.Session // nil on public routes
}

// User is the signed-in user's name ("" on public routes).
func (c *Call) User() string {
	if c.Session == nil {
		return ""
	}
	return c.Session.User.Name
}

// stateChanging reports whether a method may change state and so needs
// the CSRF token.
func stateChanging(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// wrap applies the checks every route gets, in order: origin, session,
// role, CSRF token, body limit.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &Call{}
		if err := s.authorize(w, r, rt, c); err != nil {
			writeError(w, err)
			return
		}
		limit := cmp.Or(rt.MaxBody, maxJSONBytes)
		if rt.Stream {
			liftDeadlines(w)
		} else {
			s.extendRead(w, limit)
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := rt.Handle(w, r, c); err != nil {
			if writeError(w, err) == http.StatusInternalServerError {
				s.log.Error("server: request failed", "request", w.Header().Get(requestIDHeader), "method", r.Method, "path", r.URL.Path, "err", err)
			}
		}
	})
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rt Route, c *Call) error {
	if (stateChanging(r.Method) || isWebsocket(r)) && !s.sameOrigin(r) {
		return &apiError{status: http.StatusForbidden, code: shared.CodeCSRF, msg: "cross-origin request refused (Origin " + r.Header.Get("Origin") + ")"}
	}
	if rt.Role == "" {
		return nil
	}
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return errUnauthorized("sign in first")
	}
	sess, err := s.st.SessionByToken(r.Context(), ck.Value)
	if errors.Is(err, store.ErrNotFound) {
		return errUnauthorized("your session has expired; sign in again")
	}
	if err != nil {
		return err
	}
	c.Session = &sess
	if !sess.User.Role.Allows(rt.Role) {
		return &apiError{status: http.StatusForbidden, code: shared.CodeForbidden, msg: fmt.Sprintf("this needs the %s role; you are %s", rt.Role, sess.User.Role)}
	}
	if stateChanging(r.Method) {
		tok := r.Header.Get(shared.CSRFHeader)
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(sess.CSRF)) != 1 {
			return &apiError{status: http.StatusForbidden, code: shared.CodeCSRF, msg: "missing or wrong " + shared.CSRFHeader + " header"}
		}
	}
	return nil
}

func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// apiError is an error with the status and code to answer with.
type apiError struct {
	status int
	code   shared.ErrorCode
	msg    string
	fields []shared.FieldError
	retry  time.Duration // sent as Retry-After when positive
}

func (e *apiError) Error() string { return e.msg }

func errBadRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: shared.CodeBadRequest, msg: fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, code: shared.CodeNotFound, msg: fmt.Sprintf(format, args...)}
}

func errConflict(format string, args ...any) error {
	return &apiError{status: http.StatusConflict, code: shared.CodeConflict, msg: fmt.Sprintf(format, args...)}
}

func errUnauthorized(msg string) error {
	return &apiError{status: http.StatusUnauthorized, code: shared.CodeUnauthorized, msg: msg}
}

func errInvalid(msg string, fields ...shared.FieldError) error {
	return &apiError{status: http.StatusUnprocessableEntity, code: shared.CodeInvalid, msg: msg, fields: fields}
}

// writeError answers with err as a shared.Error, and is the one place
// where errors become statuses: the typed errors of the store and the job
// queue map to 404, 409 and 422 with their own text; a body over its limit
// to 413; anything else is a 500 whose details stay in the log. It returns
// the status sent. Messages are cut to shared.MaxMessageBytes; a 500 names the
// request id under which the log holds the details.
func writeError(w http.ResponseWriter, err error) int {
	var ae *apiError
	var mbe *http.MaxBytesError
	var nf *store.NotFoundError
	var cf *store.ConflictError
	var inv *store.InvalidError
	switch {
	case errors.As(err, &ae), asUploadError(err, &ae):
	case errors.As(err, &mbe):
		ae = &apiError{status: http.StatusRequestEntityTooLarge, code: shared.CodeTooLarge, msg: fmt.Sprintf("request body over the %d byte limit", mbe.Limit)}
	case errors.As(err, &nf):
		ae = &apiError{status: http.StatusNotFound, code: shared.CodeNotFound, msg: nf.Error()}
	case errors.As(err, &cf):
		ae = &apiError{status: http.StatusConflict, code: shared.CodeConflict, msg: cf.Error()}
	case errors.As(err, &inv):
		ae = &apiError{status: http.StatusUnprocessableEntity, code: shared.CodeInvalid, msg: inv.Msg, fields: inv.Fields}
	case errors.Is(err, context.Canceled):
		ae = &apiError{status: http.StatusServiceUnavailable, code: shared.CodeUnavailable, msg: "request cancelled"}
	default:
		ae = &apiError{status: http.StatusInternalServerError, code: shared.CodeInternal,
			msg: fmt.Sprintf("internal error (request %s); the server log has the details", w.Header().Get(requestIDHeader))}
	}
	if ae.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(ae.retry.Seconds())+1))
	}
	var fields []shared.FieldError
	for _, f := range ae.fields {
		fields = append(fields, shared.FieldError{Key: f.Key, Message: shared.CapMessage(f.Message)})
	}
	writeJSON(w, ae.status, shared.Error{Err: shared.ErrorBody{Code: ae.code, Message: shared.CapMessage(ae.msg), Fields: fields}})
	return ae.status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// decodeJSON reads a JSON body into v strictly: the content type must be
// JSON, unknown fields and trailing data are errors.
func decodeJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &apiError{status: http.StatusUnsupportedMediaType, code: shared.CodeBadRequest, msg: "send the body as Content-Type: application/json"}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.As(err, &te):
			return errBadRequest("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		case errors.As(err, &se):
			return errBadRequest("malformed JSON at byte %d: %v", se.Offset, se)
		case errors.Is(err, io.EOF):
			return errBadRequest("empty body; want a JSON object")
		}
		return errBadRequest("bad JSON: %v", err)
	}
	if dec.More() {
		return errBadRequest("trailing data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errBadRequest("trailing data after the JSON object")
	}
	return nil
}

// pathID parses a positive integer path parameter.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, errBadRequest("%s %q: want a positive integer", name, v)
	}
	return id, nil
}

// queryInt parses an optional integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errBadRequest("%s=%q: want an integer from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// queryFloat reads a finite number query parameter in [lo, hi], def when
// absent.
func queryFloat(r *http.Request, name string, def, lo, hi float64) (float64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || !(x >= lo && x <= hi) {
		return 0, errBadRequest("%s=%q: want a number from %g to %g", name, v, lo, hi)
	}
	return x, nil
}

// abs resolves a data-relative path.
func (s *Server) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.opt.DataDir, p)
}

// placeholder is the page at / until the app handler is mounted.
func placeholder(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, placeholderHTML)
}

// placeholderStyle is the placeholder's inline style sheet, allowed by
// its hash in apiCSP.
const placeholderStyle = `body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5}code{background:#eee;padding:0 .2rem}`

const placeholderHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sslens</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>` + placeholderStyle + `</style>
</head><body>
<h1>sslens</h1>
<p>The portal's API is running. The web app is not part of this build yet.</p>
<p>Try <a href="/api/health"><code>/api/health</code></a>; sign in with <code>POST /api/login</code>.
The routes are listed in <code>backend/server/API.md</code>.</p>
</body></html>
`
