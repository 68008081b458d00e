package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/jobs/jobstest"
	"github.com/sslens/sslens/backend/sim"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/configs"
	"github.com/sslens/sslens/shared"
)

// The test binary is also the sslens that jobs and scoring run (see
// backend/jobs/jobstest).
func TestMain(m *testing.M) { jobstest.RunTests(m) }

// Test accounts; passwords are name + "-password".
const (
	adminUser = "ada"
	astroUser = "vera"
)

type fixture struct {
	dir  string
	st   *store.Store
	hub  *Hub
	mgr  *jobs.Manager
	srv  *Server
	ts   *httptest.Server
	ds   int64 // the tiny dataset
	dsIx *datasetIndex
}

// quiet drops the log: tests check outcomes, and expected failures would
// fill the output.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testLimits keep upload tests small.
var testLimits = UploadLimits{RequestBytes: 4 << 20, Files: 40, ZipBytes: 1 << 20}

// newFixture serves a server over a temporary data folder holding a tiny
// simulated dataset, with an admin and an astronomer account; jobs run
// the stand-in sslens.
func newFixture(t testing.TB, hubOpt HubOptions) *fixture {
	t.Helper()
	return newFixtureOn(t, hubOpt, func(exe string, env []string) jobs.Executor { return &jobs.Local{Exe: exe, Env: env} }, 0)
}

// newFixtureOn is newFixture with the executor newEx makes, given the
// stand-in sslens and its environment, and gpus GPUs for jobs.
func newFixtureOn(t testing.TB, hubOpt HubOptions, newEx func(exe string, env []string) jobs.Executor, gpus int) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "sslens.db"), store.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []struct {
		name string
		role shared.Role
	}{{adminUser, shared.RoleAdmin}, {astroUser, shared.RoleAstronomer}} {
		if _, err := st.CreateUser(ctx, u.name, u.role, u.name+"-password"); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{jobstest.Env + "=1"}
	hub := NewHub(st, hubOpt)
	mgr := jobs.New(st, newEx(exe, env), hub, jobs.Options{DataDir: dir, Poll: 20 * time.Millisecond, Grace: 5 * time.Second, Configs: configs.FS, Log: quiet, GPUs: gpus})
	srv, err := New(Options{DataDir: dir, Store: st, Jobs: mgr, Hub: hub, Model: jobs.Tool{Exe: exe, Env: env},
		Configs: configs.FS, Uploads: testLimits, LoginFailures: 3, Version: "test", Log: quiet, GPUs: gpus})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, st: st, hub: hub, mgr: mgr, srv: srv}
	f.ds = f.tinyDataset(t)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		mgr.Run(runCtx)
		close(done)
	}()
	f.ts = httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.Close()
		f.ts.Close()
		cancel()
		<-done
		st.Close()
	})
	return f
}

// tinyDataset simulates 12 images (48 px) into datasets/tiny.
func (f *fixture) tinyDataset(t testing.TB) int64 {
	t.Helper()
	cfg, err := sim.DefaultConfig("hsc", "small")
	if err != nil {
		t.Fatal(err)
	}
	two := sim.SplitCounts{Lenses: 2, NonLenses: 2}
	cfg.Counts, cfg.Size, cfg.Workers = sim.Counts{Train: two, Val: two, Test: two}, 48, 1
	if _, err := sim.WriteDataset(filepath.Join(f.dir, "datasets", "tiny"), cfg, nil); err != nil {
		t.Fatal(err)
	}
	d, err := f.st.CreateDataset(context.Background(), store.Dataset{Name: "tiny", Dir: "datasets/tiny", Kind: "simulated", Survey: "hsc", Counts: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if f.dsIx, err = f.srv.sets.get(filepath.Join(f.dir, "datasets", "tiny")); err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// imageBytes returns the file of a tiny-dataset image.
func (f *fixture) imageBytes(t testing.TB, id string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "datasets", "tiny", id))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// browser is a browser stand-in: a cookie jar and the session's CSRF token.
type browser struct {
	t    testing.TB
	base string
	hc   *http.Client
	csrf string
}

func (f *fixture) anon(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: f.ts.URL, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// login signs in as user (password user-password).
func (f *fixture) login(t testing.TB, user string) *browser {
	t.Helper()
	c := f.anon(t)
	var sess shared.Session
	if code := c.json("POST", "/api/login", shared.LoginRequest{Username: user, Password: user + "-password"}, &sess); code != http.StatusOK {
		t.Fatalf("login %s: status %d", user, code)
	}
	c.csrf = sess.CSRFToken
	return c
}

// request sends a request with the CSRF header (when signed in) and returns
// the response.
func (c *browser) request(method, path string, body io.Reader, contentType string, hdr ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.csrf != "" {
		req.Header.Set(shared.CSRFHeader, c.csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// json sends in (nil: no body) as JSON and decodes the answer into out
// (when not nil and the status is below 300), returning the status.
func (c *browser) json(method, path string, in, out any) int {
	c.t.Helper()
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			c.t.Fatal(err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp := c.request(method, path, body, ct)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// createRun submits req and returns the queued run, failing the test
// unless it is created.
func (c *browser) createRun(req shared.CreateRunRequest) shared.Run {
	c.t.Helper()
	var run shared.Run
	if code := c.json("POST", "/api/runs", req, &run); code != http.StatusCreated {
		c.t.Fatalf("create: %d", code)
	}
	return run
}

// apiErr sends a request expected to fail and returns its status and error.
func (c *browser) apiErr(method, path, contentType string, body []byte) (int, shared.ErrorBody) {
	c.t.Helper()
	resp := c.request(method, path, bytes.NewReader(body), contentType)
	defer resp.Body.Close()
	var e shared.Error
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(b, &e); err != nil {
			c.t.Errorf("%s %s: status %d with a body that is not shared.Error: %q", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, e.Err
}

// part is one file of a multipart upload.
type part struct {
	name string
	body []byte
}

// upload posts files as multipart/form-data.
func (c *browser) upload(files []part, fields ...string) (int, shared.UploadResponse, shared.ErrorBody) {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	for _, p := range files {
		w, err := mw.CreateFormFile("file", p.name)
		if err != nil {
			c.t.Fatal(err)
		}
		w.Write(p.body)
	}
	mw.Close()
	resp := c.request("POST", "/api/uploads", &buf, mw.FormDataContentType())
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out shared.UploadResponse
	var e shared.Error
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			c.t.Fatalf("upload answer %q: %v", b, err)
		}
	} else {
		json.Unmarshal(b, &e)
	}
	return resp.StatusCode, out, e.Err
}

// waitRun polls until a run is in state want, failing on another final state.
// trainedBaseline has adm fine-tune a classifier of steps (fake) steps and
// waits for it to succeed.
func (f *fixture) trainedBaseline(t testing.TB, adm *browser, steps int) shared.Run {
	t.Helper()
	var run shared.Run
	adm.json("POST", "/api/runs", shared.CreateRunRequest{Kind: shared.KindFinetune, Config: baseline(t, fmt.Sprintf("# steps: %d", steps))}, &run)
	f.waitRun(t, run.ID, shared.StateSucceeded)
	return run
}

func (f *fixture) waitRun(t testing.TB, id int64, want shared.RunState) store.Run {
	t.Helper()
	return jobstest.WaitRun(t, f.st, id, want)
}

// fingerprint summarises everything a request could change: the row
// count and newest row of every table, and the files under the data
// folder. Two equal fingerprints mean nothing changed.
func (f *fixture) fingerprint(t testing.TB) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "sslens.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	for _, table := range []string{"users", "sessions", "datasets", "runs", "events", "checkpoints", "uploads", "scores", "audit"} {
		var n int
		var last sql.NullString
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*), max(rowid) FROM %s", table)).Scan(&n, &last); err != nil {
			// WITHOUT ROWID tables have no rowid.
			if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Fprintf(&b, "%s=%d/%s ", table, n, last.String)
	}
	var states []string
	rows, err := db.Query("SELECT id, state, last_seq FROM runs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, seq int
		var st string
		rows.Scan(&id, &st, &seq)
		states = append(states, fmt.Sprintf("%d:%s:%d", id, st, seq))
	}
	rows.Close()
	fmt.Fprintf(&b, "runs[%s] ", strings.Join(states, ","))
	var files []string
	filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), "sslens.db") {
			rel, _ := filepath.Rel(f.dir, p)
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	fmt.Fprintf(&b, "files[%s]", strings.Join(files, ","))
	return b.String()
}

// npyOf encodes a test image as .npy.
func npyOf(im data.Image) []byte { return data.EncodeNPY(im) }

// testCutout is a (3, h, w) image whose values differ by seed.
func testCutout(h, w int, seed float32) data.Image {
	im := data.NewImage(3, h, w)
	for i := range im.Pix {
		im.Pix[i] = seed + float32(i%97)*0.01
	}
	return im
}
