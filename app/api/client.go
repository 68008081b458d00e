package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/sslens/sslens/shared"
)

// maxBody bounds the responses the client reads (an upload response lists
// up to 1,000 files; a preview carries a few dozen PNGs).
const maxBody = 64 << 20

// Error is an API error response: the HTTP status and the server's
// shared.ErrorBody.
type Error struct {
	Status int
	shared.ErrorBody
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("api: %d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// IsUnauthorized reports whether err says the session is missing or
// expired, so the user has to sign in again.
func IsUnauthorized(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusUnauthorized
}

// FieldErrors returns the per-field errors err carries, if any.
func FieldErrors(err error) []shared.FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// doer sends HTTP requests: an *http.Client natively, the browser's fetch
// in WebAssembly.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client calls the API of one server.
type Client struct {
	base string // scheme and host, no trailing slash
	send doer
	// ws dials the websocket. Neither field may be an *http.Client: the
	// WebAssembly build reaches these types by reflection, and an
	// *http.Client there would link net/http's whole Transport (TCP, TLS)
	// into the download.
	ws *websocket.DialOptions

	mu   sync.Mutex
	csrf string
}

// New returns a client of the server at base (e.g. "http://127.0.0.1:8080").
// Natively, hc must carry the session cookie (a cookie jar); in the
// browser pass nil: requests go through fetch, which sends the cookie of
// the page's origin itself. A nil hc natively uses http.DefaultClient.
func New(base string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(base, "/"), send: sender(hc), ws: dialOptions(hc)}
}

// SetCSRF sets the token sent with state-changing requests (empty after a
// sign-out).
func (c *Client) SetCSRF(token string) {
	c.mu.Lock()
	c.csrf = token
	c.mu.Unlock()
}

// CSRF returns the token state-changing requests carry.
func (c *Client) CSRF() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.csrf
}

// do sends method path with the JSON encoding of in (when not nil) and
// decodes a 2xx JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if method != http.MethodGet && method != http.MethodHead {
		if t := c.CSRF(); t != "" {
			req.Header.Set(shared.CSRFHeader, t)
		}
	}
	resp, err := c.send.Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("api: %s %s: reading the answer: %w", method, path, err)
	}
	err = Decode(resp.StatusCode, b, out)
	var apiErr *Error
	if err != nil && !errors.As(err, &apiErr) {
		// The server's own messages are for the user as they are; a
		// garbled answer needs the route to be traced.
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	return err
}

// Decode interprets an API answer: a status >= 400 becomes an *Error
// (wrapping the server's shared.Error body when it has one); otherwise b
// is decoded into out, unless out is nil or b is empty.
func Decode(status int, b []byte, out any) error {
	if status >= 400 {
		var e shared.Error
		if json.Unmarshal(b, &e) != nil || e.Err.Code == "" {
			e.Err = shared.ErrorBody{Message: fmt.Sprintf("%d %s", status, http.StatusText(status))}
		}
		return &Error{Status: status, ErrorBody: e.Err}
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	return nil
}

// Login signs in and remembers the session's CSRF token.
func (c *Client) Login(ctx context.Context, username, password string) (shared.Session, error) {
	var s shared.Session
	err := c.do(ctx, http.MethodPost, "/api/login", shared.LoginRequest{Username: username, Password: password}, &s)
	if err == nil {
		c.SetCSRF(s.CSRFToken)
	}
	return s, err
}

// Logout ends the session and forgets its token.
func (c *Client) Logout(ctx context.Context) error {
	err := c.do(ctx, http.MethodPost, "/api/logout", nil, nil)
	c.SetCSRF("")
	return err
}

// Me returns the current session and remembers its CSRF token.
func (c *Client) Me(ctx context.Context) (shared.Session, error) {
	var s shared.Session
	err := c.do(ctx, http.MethodGet, "/api/me", nil, &s)
	if err == nil {
		c.SetCSRF(s.CSRFToken)
	}
	return s, err
}

// Datasets lists the datasets.
func (c *Client) Datasets(ctx context.Context) ([]shared.Dataset, error) {
	var ds []shared.Dataset
	return ds, c.do(ctx, http.MethodGet, "/api/datasets", nil, &ds)
}

// ImageQuery filters, sorts and pages a dataset listing. Zero values keep
// the server's defaults.
type ImageQuery struct {
	Split   string // train, val, test
	Class   string // shared.ClassLens, shared.ClassNonLens or shared.ClassUnlabelled
	Sort    string // name or a Dataset.SortKeys entry
	Desc    bool
	Page    int // from 1
	PerPage int
}

// Values returns q as URL query parameters.
func (q ImageQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("split", q.Split)
	set("class", q.Class)
	set("sort", q.Sort)
	if q.Sort != "" {
		set("order", "asc")
		if q.Desc {
			set("order", "desc")
		}
	}
	if q.Page > 0 {
		set("page", strconv.Itoa(q.Page))
	}
	if q.PerPage > 0 {
		set("per_page", strconv.Itoa(q.PerPage))
	}
	return v
}

// Images returns one page of a dataset's images.
func (c *Client) Images(ctx context.Context, dataset int64, q ImageQuery) (shared.ImagePage, error) {
	var p shared.ImagePage
	path := fmt.Sprintf("/api/datasets/%d/images", dataset)
	if v := q.Values().Encode(); v != "" {
		path += "?" + v
	}
	return p, c.do(ctx, http.MethodGet, path, nil, &p)
}

// Image returns one dataset image's metadata and band statistics; image
// is its ImageSummary.ID ("lenses/12.npy").
func (c *Client) Image(ctx context.Context, dataset int64, image string) (shared.ImageDetail, error) {
	var d shared.ImageDetail
	return d, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/datasets/%d/images/%s", dataset, EscapeID(image)), nil, &d)
}

// PNG names a rendering of an image: Band is rgb (the Lupton composite),
// g, r or i; Stretch one of shared.Stretches; Scale the upscale factor.
// Zero values keep the server's defaults.
type PNG struct {
	Band    string
	Stretch string
	Scale   int
	// Q and Soft set the colour composite's Lupton asinh (Q and stretch);
	// 0 keeps the server's defaults.
	Q, Soft float64
	// Layer draws an upload's display layer: mask (the survey's MASK
	// painted over the image) or sigma (its noise); "" the image.
	Layer string
}

func (p PNG) query() string {
	v := url.Values{}
	if p.Band != "" {
		v.Set("band", p.Band)
	}
	if p.Layer != "" {
		v.Set("layer", p.Layer)
	}
	if p.Stretch != "" {
		v.Set("stretch", p.Stretch)
	}
	if p.Scale > 0 {
		v.Set("scale", strconv.Itoa(p.Scale))
	}
	if p.Q > 0 {
		v.Set("q", strconv.FormatFloat(p.Q, 'g', 4, 64))
	}
	if p.Soft > 0 {
		v.Set("soft", strconv.FormatFloat(p.Soft, 'g', 4, 64))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// ImagePNG returns the path (for an img element) of a dataset image's PNG.
func ImagePNG(dataset int64, image string, p PNG) string {
	return fmt.Sprintf("/api/datasets/%d/images/%s/png", dataset, EscapeID(image)) + p.query()
}

// UploadPNG returns the path of an upload's PNG.
func UploadPNG(upload int64, p PNG) string {
	return fmt.Sprintf("/api/uploads/%d/png", upload) + p.query()
}

// ExportURL returns the path that downloads the scored uploads as csv,
// votable or fits (a binary table), scored by checkpoint (0: the default model); mine keeps the
// caller's own, as Uploads does, so the file holds what the table shows.
func ExportURL(format string, checkpoint int64, mine bool) string {
	v := url.Values{"format": {format}}
	if checkpoint > 0 {
		v.Set("checkpoint", strconv.FormatInt(checkpoint, 10))
	}
	if mine {
		v.Set("mine", "1")
	}
	return "/api/uploads/export?" + v.Encode()
}

// LegacySurveysURL opens the Legacy Surveys sky viewer at (ra, dec),
// degrees, zoomed to a cutout's scale.
func LegacySurveysURL(ra, dec float64) string {
	return fmt.Sprintf("https://www.legacysurvey.org/viewer?ra=%.6f&dec=%.6f&layer=ls-dr10&zoom=16", ra, dec)
}

// SimbadURL searches SIMBAD within 5 arcsec of (ra, dec), degrees.
func SimbadURL(ra, dec float64) string {
	return "https://simbad.cds.unistra.fr/simbad/sim-coo?" + url.Values{
		"Coord": {fmt.Sprintf("%.6f %+.6f", ra, dec)}, "Radius": {"5"}, "Radius.unit": {"arcsec"},
	}.Encode()
}

// NEDURL searches NED within 5 arcsec of (ra, dec), degrees.
func NEDURL(ra, dec float64) string {
	return "https://ned.ipac.caltech.edu/conesearch?" + url.Values{
		"coordinates": {fmt.Sprintf("%.6fd %+.6fd", ra, dec)}, "radius": {"0.0833"}, "in_csys": {"Equatorial"}, "in_equinox": {"J2000"},
	}.Encode()
}

// EscapeID escapes each segment of an image ID ("lenses/12.npy") for a
// URL path, keeping the slash between class and file.
func EscapeID(id string) string {
	parts := strings.Split(id, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Configs lists the shipped config templates.
func (c *Client) Configs(ctx context.Context) ([]shared.ConfigTemplate, error) {
	var ts []shared.ConfigTemplate
	return ts, c.do(ctx, http.MethodGet, "/api/configs", nil, &ts)
}

// ValidateConfig checks a YAML config without running it.
func (c *Client) ValidateConfig(ctx context.Context, yaml string) (shared.ValidateConfigResponse, error) {
	var r shared.ValidateConfigResponse
	return r, c.do(ctx, http.MethodPost, "/api/configs/validate", shared.ValidateConfigRequest{Config: yaml}, &r)
}

// Preview renders the augmented views of one image.
func (c *Client) Preview(ctx context.Context, req shared.PreviewRequest) (shared.PreviewResponse, error) {
	var r shared.PreviewResponse
	return r, c.do(ctx, http.MethodPost, "/api/preview", req, &r)
}

// Runs lists runs, newest first, optionally of one kind or state.
func (c *Client) Runs(ctx context.Context, kind shared.RunKind, state shared.RunState) ([]shared.Run, error) {
	v := url.Values{}
	if kind != "" {
		v.Set("kind", string(kind))
	}
	if state != "" {
		v.Set("state", string(state))
	}
	path := "/api/runs"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var rs []shared.Run
	return rs, c.do(ctx, http.MethodGet, path, nil, &rs)
}

// Run returns one run.
func (c *Client) Run(ctx context.Context, id int64) (shared.Run, error) {
	var r shared.Run
	return r, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/runs/%d", id), nil, &r)
}

// CreateRun launches a run (admins); config errors come back as an *Error
// with Fields.
func (c *Client) CreateRun(ctx context.Context, req shared.CreateRunRequest) (shared.Run, error) {
	var r shared.Run
	return r, c.do(ctx, http.MethodPost, "/api/runs", req, &r)
}

// CreateDataset simulates or imports a dataset (admins) and returns the
// run that builds it; bad fields come back as an *Error with Fields.
func (c *Client) CreateDataset(ctx context.Context, req shared.CreateDatasetRequest) (shared.Run, error) {
	var r shared.Run
	return r, c.do(ctx, http.MethodPost, "/api/datasets", req, &r)
}

// Rounds judges every scoring round at depth n.
func (c *Client) Rounds(ctx context.Context, n int) (shared.Rounds, error) {
	var r shared.Rounds
	return r, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/grading/rounds?n=%d", n), nil, &r)
}

// CancelRun stops a queued or running run (admins).
func (c *Client) CancelRun(ctx context.Context, id int64) (shared.Run, error) {
	var r shared.Run
	return r, c.do(ctx, http.MethodPost, fmt.Sprintf("/api/runs/%d/cancel", id), nil, &r)
}

// ResumeRun queues a cancelled or interrupted run again (admins).
func (c *Client) ResumeRun(ctx context.Context, id int64) (shared.Run, error) {
	var r shared.Run
	return r, c.do(ctx, http.MethodPost, fmt.Sprintf("/api/runs/%d/resume", id), nil, &r)
}

// Checkpoints lists a run's saved models.
func (c *Client) Checkpoints(ctx context.Context, run int64) ([]shared.Checkpoint, error) {
	var cs []shared.Checkpoint
	return cs, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/runs/%d/checkpoints", run), nil, &cs)
}

// Catalogue returns a score-survey run's files and the top of its ranking.
func (c *Client) Catalogue(ctx context.Context, run int64) (shared.Catalogue, error) {
	var out shared.Catalogue
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/runs/%d/catalogue", run), nil, &out)
}

// Results returns the evaluation table, with ROC points when roc is set.
func (c *Client) Results(ctx context.Context, roc bool) (shared.Results, error) {
	path := "/api/results"
	if roc {
		path += "?roc=1"
	}
	var r shared.Results
	return r, c.do(ctx, http.MethodGet, path, nil, &r)
}

// Models returns the checkpoints that can score and the default one.
func (c *Client) Models(ctx context.Context) (shared.ModelStatus, error) {
	var m shared.ModelStatus
	return m, c.do(ctx, http.MethodGet, "/api/models", nil, &m)
}

// ScoreUploads starts a score-batch run of uploads (all when empty) with
// a checkpoint (0: the default model).
func (c *Client) ScoreUploads(ctx context.Context, req shared.ScoreRequest) (shared.Run, error) {
	var r shared.Run
	return r, c.do(ctx, http.MethodPost, "/api/uploads/score", req, &r)
}

// PromoteModel makes a checkpoint the default model (admins); the answer
// names the run that re-scores every upload with it.
func (c *Client) PromoteModel(ctx context.Context, checkpoint int64) (shared.PromoteResponse, error) {
	var r shared.PromoteResponse
	return r, c.do(ctx, http.MethodPost, "/api/models/default", shared.PromoteRequest{Checkpoint: checkpoint}, &r)
}

// Grade records the caller's grade of an upload.
func (c *Client) Grade(ctx context.Context, upload int64, req shared.GradeRequest) (shared.Grade, error) {
	var g shared.Grade
	return g, c.do(ctx, http.MethodPut, fmt.Sprintf("/api/uploads/%d/grade", upload), req, &g)
}

// Grades returns what the caller may see of an upload's grades.
func (c *Client) Grades(ctx context.Context, upload int64) (shared.GradesView, error) {
	var v shared.GradesView
	return v, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/uploads/%d/grades", upload), nil, &v)
}

// GradingSummary returns how far grading has gone and how the default
// model's ranking fares against the grades.
func (c *Client) GradingSummary(ctx context.Context) (shared.GradingSummary, error) {
	var g shared.GradingSummary
	return g, c.do(ctx, http.MethodGet, "/api/grading", nil, &g)
}

// NextToGrade returns the top-ranked candidate the caller has not graded;
// ok is false when none is left.
func (c *Client) NextToGrade(ctx context.Context) (u shared.Upload, ok bool, err error) {
	err = c.do(ctx, http.MethodGet, "/api/grading/next", nil, &u)
	return u, err == nil && u.ID != 0, err
}

// Uploads lists uploads with their scores by checkpoint (0: the default
// model), sorted by lens probability; mine keeps the caller's own.
func (c *Client) Uploads(ctx context.Context, checkpoint int64, mine bool) ([]shared.Upload, error) {
	v := url.Values{}
	if checkpoint > 0 {
		v.Set("checkpoint", strconv.FormatInt(checkpoint, 10))
	}
	if mine {
		v.Set("mine", "1")
	}
	path := "/api/uploads"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var us []shared.Upload
	return us, c.do(ctx, http.MethodGet, path, nil, &us)
}

// UploadDetail returns an upload's band statistics.
func (c *Client) UploadDetail(ctx context.Context, id int64) (shared.ImageDetail, error) {
	var d shared.ImageDetail
	return d, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/uploads/%d/detail", id), nil, &d)
}

// Similar returns the k images nearest an upload in the train split of
// dataset (0: the model's training data).
func (c *Client) Similar(ctx context.Context, id, dataset int64, k int) (shared.Similar, error) {
	var s shared.Similar
	return s, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/uploads/%d/similar?k=%d&dataset=%d", id, k, dataset), nil, &s)
}
