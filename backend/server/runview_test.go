package server

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/shared"
)

func TestRunViewText(t *testing.T) {
	v := runView{dataDir: "/srv/sslens"}
	for in, want := range map[string]string{
		"": "",
		"open /srv/sslens/runs/3-x/config.yaml: no": "open runs/3-x/config.yaml: no",
		"data /srv/sslens, out /srv/sslens/runs/1":  "data ., out runs/1",
		"/srv/sslens":                        ".",
		"/srv/sslensfoo/x and /srv/sslens-2": "/srv/sslensfoo/x and /srv/sslens-2",
		"/srv/sslens/a /srv/sslens/b":        "a b",
		"no paths here":                      "no paths here",
	} {
		if got := v.text(in); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (runView{full: true, dataDir: "/srv/sslens"}).text("/srv/sslens/x"); got != "/srv/sslens/x" {
		t.Errorf("an admin's view changed %q", got)
	}
}

// An astronomer's view of runs (the run, its events, logs and metrics, and
// the websocket) holds no path under the data folder and no process id;
// an admin's holds both.
func TestRunViewHidesPathsAndPids(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm, astro := f.login(t, adminUser), f.login(t, astroUser)
	bad := filepath.Join(f.dir, "datasets", "tiny", "lenses", "3.npy")
	failed := adm.createRun(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: baseline(t, "# fail: "+bad+": corrupt")})
	ws := f.dial(t, astro)
	ws.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: failed.ID})
	f.waitRun(t, failed.ID, shared.StateFailed)
	ws.waitFor(t, "the failure", stateIs(failed.ID, shared.StateFailed))
	long := adm.createRun(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: baseline(t, "# steps: 100000\n# step_ms: 10\n")})
	f.waitRun(t, long.ID, shared.StateRunning)

	get := func(c *browser, path string) string {
		t.Helper()
		var v json.RawMessage
		if code := c.json("GET", path, nil, &v); code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		return string(v)
	}
	paths := []string{"/api/runs", fmt.Sprintf("/api/runs/%d", long.ID), fmt.Sprintf("/api/runs/%d", failed.ID),
		fmt.Sprintf("/api/runs/%d/events", failed.ID), fmt.Sprintf("/api/runs/%d/logs", failed.ID), fmt.Sprintf("/api/runs/%d/metrics", failed.ID)}
	var adminSaw strings.Builder
	for _, p := range paths {
		if body := get(astro, p); strings.Contains(body, f.dir) || pidRe.MatchString(body) {
			t.Errorf("GET %s shows an astronomer a server path or pid: %s", p, body)
		}
		adminSaw.WriteString(get(adm, p))
	}
	if !strings.Contains(adminSaw.String(), f.dir) || !pidRe.MatchString(adminSaw.String()) {
		t.Error("the admin's view lacks the paths and pids the test looks for")
	}
	var run shared.Run
	astro.json("GET", fmt.Sprintf("/api/runs/%d", failed.ID), nil, &run)
	if !strings.Contains(run.Error, "datasets/tiny/lenses/3.npy: corrupt") {
		t.Errorf("the astronomer's failure text %q lost the relative path", run.Error)
	}
	astro.json("GET", fmt.Sprintf("/api/runs/%d", long.ID), nil, &run)
	if run.Handle != "" || len(run.Args) == 0 || !strings.Contains(strings.Join(run.Args, " "), "runs/") {
		t.Errorf("the astronomer's running run: handle %q args %q", run.Handle, run.Args)
	}
	b, _ := json.Marshal(ws.events())
	if strings.Contains(string(b), f.dir) {
		t.Errorf("the websocket sent an astronomer a server path: %s", b)
	}
	if code := adm.json("POST", fmt.Sprintf("/api/runs/%d/cancel", long.ID), nil, nil); code != 200 {
		t.Errorf("cancel: %d", code)
	}
}
