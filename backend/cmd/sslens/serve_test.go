package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/jobs/jobstest"
	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// buildSSLens builds this command into a temporary folder.
func buildSSLens(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	exe := filepath.Join(t.TempDir(), "sslens")
	args := []string{"build", "-o", exe}
	if ops.BLASName() == "openblas" {
		args = append(args, "-tags", "openblas") // as this test binary was built
	}
	out, err := exec.Command(gobin, append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// serving is a `sslens serve` child process.
type serving struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	out  *bytes.Buffer
	done chan error
}

// startServe starts `sslens serve` on a free loopback port with the small
// dataset, and extra flags after the defaults.
func startServe(t *testing.T, exe, dir string, extra ...string) *serving {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--counts", "small", "--grace", "5s"}, extra...)
	cmd := exec.Command(exe, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serving{cmd: cmd, out: &bytes.Buffer{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`serving (http://\S+)`)
		for sc.Scan() {
			s.out.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() {
		s.done <- cmd.Wait()
		pw.Close()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case s.base = <-addr:
	case err := <-s.done:
		t.Fatalf("sslens serve exited: %v\n%s", err, s.out)
	case <-time.After(30 * time.Second):
		t.Fatalf("sslens serve did not start\n%s", s.out)
	}
	return s
}

// firstStart starts `sslens serve` on a fresh data folder and signs in as
// the admin the first start creates; it returns the server, the client,
// the password the start printed and the runs it queued.
func firstStart(t *testing.T, exe, dir string, extra ...string) (*serving, *apiClient, string, []shared.Run) {
	t.Helper()
	s := startServe(t, exe, dir, extra...)
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(s.out.String())
	if m == nil {
		t.Fatalf("no admin password printed:\n%s", s.out)
	}
	c := signIn(t, s.base, "admin", m[1])
	var runs []shared.Run
	c.call("GET", "/api/runs", nil, &runs)
	return s, c, m[1], runs
}

// apiClient signs in and calls the API.
type apiClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func signIn(t *testing.T, base, user, password string) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &apiClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var sess shared.Session
	if code := c.call("POST", "/api/login", shared.LoginRequest{Username: user, Password: password}, &sess); code != 200 {
		t.Fatalf("sign in: %d", code)
	}
	c.csrf = sess.CSRFToken
	return c
}

func (c *apiClient) call(method, path string, in, out any) int {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(shared.CSRFHeader, c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			c.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func (c *apiClient) run(id int64) shared.Run {
	var r shared.Run
	if code := c.call("GET", fmt.Sprintf("/api/runs/%d", id), nil, &r); code != 200 {
		c.t.Fatalf("run %d: %d", id, code)
	}
	return r
}

// waitRun polls run id until ok holds.
func (c *apiClient) waitRun(id int64, what string, ok func(shared.Run) bool) shared.Run {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := c.run(id)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %d never %s: %+v", id, what, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A serving process killed with SIGKILL in the middle of a job takes the
// job's process with it; the next start marks the job interrupted, the
// database is intact, and the job resumes to completion. The first start
// prints the admin password once; SIGINT stops gracefully.
func TestServeSurvivesSIGKILL(t *testing.T) {
	exe := buildSSLens(t)
	dir := t.TempDir()
	s1, c, password, runs := firstStart(t, exe, dir)
	if len(runs) != 2 || runs[1].Kind != shared.KindSimulate || runs[0].Kind != shared.KindFinetune || runs[0].After != runs[1].ID {
		t.Fatalf("first start queued %+v", runs)
	}
	sim := runs[1].ID
	r := c.waitRun(sim, "mid-way", func(r shared.Run) bool {
		return r.State == shared.StateRunning && r.Progress != nil && r.Progress.Done > 0
	})
	var pid int
	if _, err := fmt.Sscanf(r.Handle, "pid %d", &pid); err != nil {
		t.Fatalf("handle %q: %v", r.Handle, err)
	}

	if err := s1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s1.done
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the job's process %d outlived the killed server", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	st, err := store.Open(filepath.Join(dir, "sslens.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
	st.Close()

	s2 := startServe(t, exe, dir)
	if strings.Contains(s2.out.String(), "password") {
		t.Errorf("the restart printed a password again:\n%s", s2.out)
	}
	c = signIn(t, s2.base, "admin", password)
	r = c.run(sim)
	if r.State != shared.StateInterrupted || !r.Resumable || !strings.Contains(r.Error, "server stopped") {
		t.Errorf("after the restart the simulation is %s (resumable %v, %q), want interrupted", r.State, r.Resumable, r.Error)
	}
	if b := c.run(runs[0].ID); b.State != shared.StateQueued {
		t.Errorf("the baseline waiting for it is %s, want queued", b.State)
	}
	if code := c.call("POST", fmt.Sprintf("/api/runs/%d/resume", sim), nil, nil); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	c.waitRun(sim, "succeeded", func(r shared.Run) bool { return r.State == shared.StateSucceeded })
	var ds shared.Dataset
	if c.call("GET", "/api/datasets/1", nil, &ds); ds.State != shared.DatasetReady || ds.Images != 303 {
		t.Errorf("dataset after the resumed simulation: %+v", ds)
	}
	c.waitRun(runs[0].ID, "started", func(r shared.Run) bool { return r.State != shared.StateQueued })

	// SIGINT: a graceful stop, whatever the baseline is doing by now.
	if err := s2.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s2.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("graceful stop exited %v\n%s", err, s2.out)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no graceful stop\n%s", s2.out)
	}
	st, err = store.Open(filepath.Join(dir, "sslens.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
	j, err := st.Run(context.Background(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !j.State.Final() {
		t.Errorf("after a graceful stop the baseline is %s", j.State)
	}
}

func TestUserCommand(t *testing.T) {
	dir := t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		fs := newFlagSet(commands["user"], io.Discard)
		err := runUser(context.Background(), fs, append(args, "--data", dir), strings.NewReader(stdin), &out)
		return out.String(), err
	}
	steps := []struct {
		stdin   string
		args    []string
		want    string // in the output
		wantErr string
	}{
		{"", []string{"add", "--admin", "ada"}, "password: ", ""},
		{"a long enough password\n", []string{"add", "--password-stdin", "vera"}, "added vera (astronomer)", ""},
		{"", []string{"add", "vera"}, "", "exists"},
		{"short\n", []string{"add", "--password-stdin", "bob"}, "", "password"},
		{"", []string{"list"}, "vera  astronomer", ""},
		{"", []string{"passwd", "vera"}, "password: ", ""},
		{"", []string{"passwd", "nobody"}, "", "not found"},
		{"", []string{"del", "vera"}, "deleted vera", ""},
		{"", []string{"del", "vera"}, "", "not found"},
		{"", []string{"frob", "x"}, "", "usage"},
		{"", []string{"list", "x"}, "", "usage"},
		{"", []string{"add"}, "", "usage"},
	}
	for _, s := range steps {
		out, err := run(s.stdin, s.args...)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Errorf("%v: error %v, want %q", s.args, err, s.wantErr)
			}
			continue
		}
		if err != nil || !strings.Contains(out, s.want) {
			t.Errorf("%v: %q, %v; want %q", s.args, out, err, s.want)
		}
	}
	st, err := store.Open(filepath.Join(dir, "sslens.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Authenticate(context.Background(), "ada", "wrong"); !errors.Is(err, store.ErrBadPassword) {
		t.Error(err)
	}
	log, _ := st.AuditLog(context.Background(), 10)
	if len(log) != 4 || log[0].Action != "user.delete" || log[0].User != "(command line)" {
		t.Errorf("audit %+v", log)
	}
}

func TestServeOriginsAndProxies(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8123}
	for addr, want := range map[string]string{
		"portal.lan:0":   "https://portal.lan:8123",
		"localhost:8123": "https://localhost:8123",
		"127.0.0.1:0":    "", // an IP: the server accepts the connection's address itself
		":8123":          "",
		"[::1]:8123":     "",
	} {
		got := strings.Join(listenOrigins("https", addr, bound), " ")
		if got != want {
			t.Errorf("--addr %s: origins %q, want %q", addr, got, want)
		}
	}
	for in, want := range map[string]string{
		"10.0.0.0/8":      "10.0.0.0/8",
		"10.1.2.3/8":      "10.0.0.0/8",
		"192.0.2.7":       "192.0.2.7/32",
		"::ffff:10.0.0.1": "10.0.0.1/32",
		"2001:db8::/32":   "2001:db8::/32",
	} {
		if p, err := parsePrefix(in); err != nil || p.String() != want {
			t.Errorf("--trusted-proxy %s: %v %v, want %s", in, p, err, want)
		}
	}
	if _, err := parsePrefix("proxy.lan"); err == nil {
		t.Error("a name was taken for a proxy address")
	}
	fs := newFlagSet(commands["serve"], io.Discard)
	err := runServe(context.Background(), fs, []string{"--data", t.TempDir(), "--trusted-proxy", "nonsense"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("a bad --trusted-proxy: %v", err)
	}
}

// TestJobMemoryBytes: --job-memory takes sizes and none, defaults to three
// quarters of the machine's memory per slot, and refuses the rest.
func TestJobMemoryBytes(t *testing.T) {
	for _, tc := range []struct {
		flag  string
		slots int
		want  int64
	}{{"12GiB", 1, 12 << 30}, {"500MB", 2, 500e6}, {"none", 1, 0}, {"", 2, physicalMemory() / 4 * 3 / 2}} {
		if got, err := jobMemoryBytes(tc.flag, tc.slots, false); err != nil || got != tc.want {
			t.Errorf("--job-memory %q with %d slots: %d, %v; want %d", tc.flag, tc.slots, got, err, tc.want)
		}
	}
	if physicalMemory() <= 0 {
		t.Error("the machine's memory is unknown")
	}
	if got, err := jobMemoryBytes("", 1, true); err != nil || got != 0 {
		t.Errorf("cluster jobs by default: %d, %v; want no limit", got, err)
	}
	for _, bad := range []string{"lots", "0", "-1GB"} {
		if _, err := jobMemoryBytes(bad, 1, false); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("--job-memory %q: %v", bad, err)
		}
	}
}

// With --executor slurm a job outlives its server: killed with SIGKILL
// while the first start's simulation runs on Slurm, the server leaves the
// job running; the next start re-attaches and follows it to success, its
// events numbered without a gap, and the baseline after it is submitted to
// Slurm in turn. Needs a Slurm cluster (backend/jobs/slurm/single-node.sh).
func TestServeSlurmSurvivesSIGKILL(t *testing.T) {
	jobstest.NeedSlurm(t)
	exe := buildSSLens(t)
	dir := t.TempDir()
	var handles []string
	t.Cleanup(func() {
		for _, h := range handles {
			exec.Command("scancel", strings.TrimPrefix(h, "slurm job ")).Run()
		}
	})
	s1, c, password, runs := firstStart(t, exe, dir, "--executor", "slurm")
	if len(runs) != 2 || runs[1].Kind != shared.KindSimulate {
		t.Fatalf("first start queued %+v", runs)
	}
	sim := runs[1].ID
	r := c.waitRun(sim, "running on Slurm", func(r shared.Run) bool {
		return r.State == shared.StateRunning && r.Progress != nil && r.Progress.Done > 0
	})
	if r.Host != "slurm" || !strings.HasPrefix(r.Handle, "slurm job ") {
		t.Fatalf("the simulation runs on %q as %q, want a Slurm job", r.Host, r.Handle)
	}
	handles = append(handles, r.Handle)
	if err := s1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s1.done
	out, err := exec.Command("squeue", "--noheader", "--format=%T", "--jobs="+strings.TrimPrefix(r.Handle, "slurm job ")).Output()
	if err != nil || !strings.Contains(string(out), "RUNNING") {
		t.Fatalf("after SIGKILL the simulation's Slurm job is %q (%v), want running", out, err)
	}

	s2 := startServe(t, exe, dir, "--executor", "slurm")
	c = signIn(t, s2.base, "admin", password)
	r = c.waitRun(sim, "succeeded", func(r shared.Run) bool { return r.State.Final() })
	if r.State != shared.StateSucceeded {
		t.Fatalf("after the restart the simulation ended %s: %q", r.State, r.Error)
	}
	var evs []shared.Event
	if code := c.call("GET", fmt.Sprintf("/api/runs/%d/events", sim), nil, &evs); code != 200 || len(evs) == 0 {
		t.Fatalf("events: %d, %d", code, len(evs))
	}
	for i, ev := range evs {
		if ev.Seq != evs[0].Seq+int64(i) {
			t.Fatalf("event %d has sequence number %d after %d: a gap", i, ev.Seq, evs[0].Seq)
		}
	}
	b := c.waitRun(runs[0].ID, "submitted", func(r shared.Run) bool { return r.State != shared.StateQueued })
	handles = append(handles, b.Handle)
	if !strings.HasPrefix(b.Handle, "slurm job ") {
		t.Errorf("the baseline runs as %q (%s), want a Slurm job", b.Handle, b.State)
	}
}
