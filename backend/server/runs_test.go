package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/jobs/jobstest"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/configs"
	"github.com/sslens/sslens/shared"
)

// baseline is the shipped baseline config with settings for the stand-in
// trainer in comments.
func baseline(t testing.TB, fake string) string {
	t.Helper()
	b, err := configs.FS.ReadFile(configs.Baseline)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n" + fake
}

// wsConn is a websocket client that collects what it receives.
type wsConn struct {
	conn *websocket.Conn
	mu   sync.Mutex
	evs  []shared.Event
	got  chan struct{} // signalled on every event
	done chan struct{} // closed when the connection ends
}

func (f *fixture) dial(t testing.TB, c *browser) *wsConn {
	t.Helper()
	d := websocket.Dialer{Jar: c.hc.Jar, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(f.ts.URL, "http")+"/api/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	w := &wsConn{conn: conn, got: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			var ev shared.Event
			if err := conn.ReadJSON(&ev); err != nil {
				return
			}
			w.mu.Lock()
			w.evs = append(w.evs, ev)
			w.mu.Unlock()
			select {
			case w.got <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return w
}

func (w *wsConn) send(t testing.TB, m shared.ClientMessage) {
	t.Helper()
	if err := w.conn.WriteJSON(m); err != nil {
		t.Fatal(err)
	}
}

func (w *wsConn) events() []shared.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.evs)
}

// waitFor waits until some received event satisfies ok.
func (w *wsConn) waitFor(t testing.TB, what string, ok func(shared.Event) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if slices.ContainsFunc(w.events(), ok) {
			return
		}
		select {
		case <-w.got:
		case <-w.done:
			if !slices.ContainsFunc(w.events(), ok) {
				t.Fatalf("connection closed before %s", what)
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func stateIs(run int64, st shared.RunState) func(shared.Event) bool {
	return func(ev shared.Event) bool {
		return ev.Run == run && ev.Type == shared.EventState && ev.State.State == st
	}
}

// checkSeqs checks that a client got run's events from first to last
// exactly once, in order.
func checkSeqs(t *testing.T, who string, evs []shared.Event, run, first, last int64) {
	t.Helper()
	want := first
	for _, ev := range evs {
		if ev.Run != run {
			continue
		}
		if ev.Seq != want {
			t.Fatalf("%s: got seq %d, want %d", who, ev.Seq, want)
		}
		want++
	}
	if want != last+1 {
		t.Errorf("%s: got seqs %d to %d, want to %d", who, first, want-1, last)
	}
}

// A training run end to end: launched over the API, streamed to two
// websocket clients (one joining late, one reconnecting), cancelled,
// resumed, finished; then its metrics, logs and checkpoints.
func TestRunEndToEnd(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	astro := f.login(t, astroUser)
	cfg := baseline(t, "# steps: 200\n# step_ms: 15\n# ckpt_every: 20\n")
	run := adm.createRun(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: cfg, Name: "e2e"})
	if run.State != shared.StateQueued || run.Dataset != f.ds || run.Name != "e2e" {
		t.Errorf("created %+v", run)
	}
	a := f.dial(t, astro)
	a.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: run.ID})
	all := f.dial(t, adm)
	all.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: 0})

	// Client b joins once some steps are in, asking from seq 3.
	a.waitFor(t, "a step", func(ev shared.Event) bool { return ev.Type == shared.EventMetric && ev.Metric.Step >= 5 })
	b := f.dial(t, astro)
	b.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: run.ID, After: 3})

	// Client a drops and reconnects with the last seq it saw.
	a.waitFor(t, "a checkpoint", func(ev shared.Event) bool { return ev.Type == shared.EventMetric && ev.Metric.Checkpoint != "" })
	a.conn.Close()
	<-a.done
	aEvs := a.events()
	a2 := f.dial(t, astro)
	a2.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: run.ID, After: aEvs[len(aEvs)-1].Seq})

	var cancelled shared.Run
	if code := adm.json("POST", fmt.Sprintf("/api/runs/%d/cancel", run.ID), nil, &cancelled); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	t0 := time.Now()
	b.waitFor(t, "cancelled", stateIs(run.ID, shared.StateCancelled))
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("cancelling took %v", d)
	}
	var got shared.Run
	adm.json("GET", fmt.Sprintf("/api/runs/%d", run.ID), nil, &got)
	if !got.Resumable || got.Progress == nil || got.Progress.Done == 0 || got.Progress.Done == 200 {
		t.Errorf("after cancel: %+v", got)
	}
	if code := adm.json("POST", fmt.Sprintf("/api/runs/%d/resume", run.ID), nil, nil); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	b.waitFor(t, "success", stateIs(run.ID, shared.StateSucceeded))
	a2.waitFor(t, "success", stateIs(run.ID, shared.StateSucceeded))
	all.waitFor(t, "success", stateIs(run.ID, shared.StateSucceeded))

	adm.json("GET", fmt.Sprintf("/api/runs/%d", run.ID), nil, &got)
	last := got.LastSeq
	checkSeqs(t, "a before reconnecting", aEvs, run.ID, 1, aEvs[len(aEvs)-1].Seq)
	checkSeqs(t, "a after reconnecting", a2.events(), run.ID, aEvs[len(aEvs)-1].Seq+1, last)
	checkSeqs(t, "b", b.events(), run.ID, 4, last)
	for _, ev := range all.events() {
		if ev.Type == shared.EventError {
			t.Errorf("all-runs client got an error: %s", ev.Error)
		}
	}
	if n := len(all.events()); n < 10 {
		t.Errorf("all-runs client got %d events", n)
	}

	var metrics []shared.Metric
	adm.json("GET", fmt.Sprintf("/api/runs/%d/metrics?kind=step", run.ID), nil, &metrics)
	if len(metrics) != 200 {
		t.Fatalf("%d step metrics, want 200", len(metrics))
	}
	for i, m := range metrics {
		if m.Step != i+1 {
			t.Fatalf("metric %d is step %d", i, m.Step)
		}
	}
	var evs []shared.Event
	adm.json("GET", fmt.Sprintf("/api/runs/%d/events?after=%d", run.ID, last-2), nil, &evs)
	if len(evs) != 2 || evs[1].Seq != last || evs[1].State.State != shared.StateSucceeded {
		t.Errorf("events after %d: %+v", last-2, evs)
	}
	var logs []shared.LogLine
	adm.json("GET", fmt.Sprintf("/api/runs/%d/logs?tail=50", run.ID), nil, &logs)
	if !slices.ContainsFunc(logs, func(l shared.LogLine) bool { return strings.HasPrefix(l.Text, "training from step") }) {
		t.Errorf("logs %+v", logs)
	}
	var cks []shared.Checkpoint
	adm.json("GET", fmt.Sprintf("/api/runs/%d/checkpoints", run.ID), nil, &cks)
	if len(cks) != 2 || cks[0].Name != "best" || !cks[0].Classifier || cks[0].Step != 200 {
		t.Errorf("checkpoints %+v", cks)
	}
	var runs []shared.Run
	adm.json("GET", "/api/runs?kind=finetune&state=succeeded", nil, &runs)
	if len(runs) != 1 || runs[0].ID != run.ID {
		t.Errorf("runs %+v", runs)
	}
	var log []shared.AuditEntry
	adm.json("GET", "/api/audit", nil, &log)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	if !slices.Equal(actions, []string{"run.resume", "run.cancel", "run.create"}) {
		t.Errorf("audit actions %v", actions)
	}
	var res shared.Results
	if code := astro.json("GET", "/api/results", nil, &res); code != 200 || len(res.Rows) != 2 {
		t.Fatalf("results: %d %+v", code, res)
	}
	if r := res.Rows[1]; r.Run != run.ID || r.Model != "best" || r.Method != "supervised" || r.AUC != 0.8 || r.AUCCI == nil ||
		r.Checkpoint != cks[0].ID || r.ROC != nil || r.TrainImages != 200 {
		t.Errorf("result row %+v", r)
	}
	var rows []shared.ResultRow
	if code := astro.json("GET", fmt.Sprintf("/api/results/%d", run.ID), nil, &rows); code != 200 || len(rows) != 2 || len(rows[0].ROC) != 3 {
		t.Errorf("run results: %d %+v", code, rows)
	}
	if astro.json("GET", "/api/results?roc=1", nil, &res); len(res.Rows[0].ROC) != 3 {
		t.Errorf("results?roc=1 without ROC points")
	}
	if code, _ := adm.apiErr("POST", fmt.Sprintf("/api/runs/%d/cancel", run.ID), "", nil); code != 409 {
		t.Errorf("cancelling a finished run: %d, want 409", code)
	}
	if code, _ := adm.apiErr("POST", fmt.Sprintf("/api/runs/%d/resume", run.ID), "", nil); code != 409 {
		t.Errorf("resuming a finished run: %d, want 409", code)
	}
}

func TestRunRequestsRejected(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	good := baseline(t, "")
	tests := []struct {
		name  string
		body  string
		code  int
		field string
	}{
		{"malformed JSON", `{"kind": "finetune",`, 400, ""},
		{"wrong type", `{"kind": "finetune", "dataset": "one"}`, 400, ""},
		{"unknown field", `{"kind": "finetune", "yaml": "x"}`, 400, ""},
		{"oversize", `{"kind": "finetune", "config": "` + strings.Repeat("#", maxJSONBytes) + `"}`, 413, ""},
		{"unknown kind", `{"kind": "bake"}`, 422, "kind"},
		{"simulate", `{"kind": "simulate"}`, 422, "kind"},
		{"no config", `{"kind": "finetune"}`, 422, "config"},
		{"bad value", mustJSON(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: strings.Replace(good, "init_lr: 0.0001", "init_lr: -1", 1)}), 422, "optimizer.init_lr"},
		{"bad type in YAML", mustJSON(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: strings.Replace(good, "batch_size: 64", "batch_size: many", 1)}), 422, "train args.batch_size"},
		{"YAML syntax", mustJSON(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: "experiment: [\n"}), 422, ""},
		{"kind mismatch", mustJSON(shared.CreateRunRequest{Kind: shared.KindPretrain, Config: good}), 422, "experiment.ssl_training"},
		{"unknown template", `{"kind": "finetune", "template": "nope"}`, 422, "template"},
		{"template and config", mustJSON(shared.CreateRunRequest{Kind: shared.KindFinetune, Template: "supervised-vit-nano", Config: good}), 422, "template"},
		{"unknown dataset", mustJSON(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: good, Dataset: 9}), 422, "dataset"},
		{"unknown checkpoint", mustJSON(shared.CreateRunRequest{Kind: shared.KindFinetune, Template: "finetune-vit-tiny", Checkpoint: 9}), 422, "checkpoint"},
		{"finetune without checkpoint", `{"kind": "finetune", "template": "finetune-vit-tiny"}`, 422, "finetune.checkpoint"},
		{"unknown after", mustJSON(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: good, After: 99}), 422, "after"},
	}
	before := f.fingerprint(t)
	for _, tt := range tests {
		code, e := adm.apiErr("POST", "/api/runs", "application/json", []byte(tt.body))
		if code != tt.code {
			t.Errorf("%s: %d (%s), want %d", tt.name, code, e.Message, tt.code)
			continue
		}
		if code == 422 && (len(e.Fields) == 0 || e.Fields[0].Key != tt.field) {
			t.Errorf("%s: fields %+v, want key %q", tt.name, e.Fields, tt.field)
		}
	}
	if after := f.fingerprint(t); after != before {
		t.Errorf("rejected runs changed state:\n%s\n%s", before, after)
	}
	for path, want := range map[string]int{
		"/api/runs/99": 404, "/api/runs/zero": 400, "/api/runs?kind=bake": 400, "/api/runs?state=done": 400,
		"/api/runs/99/metrics": 404, "/api/runs/99/events?after=-1": 400, "/api/runs/99/logs?tail=0": 400, "/api/results/99": 404,
	} {
		if code, _ := adm.apiErr("GET", path, "", nil); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
	for _, path := range []string{"/api/runs/99/cancel", "/api/runs/99/resume"} {
		if code, _ := adm.apiErr("POST", path, "", nil); code != 404 {
			t.Errorf("POST %s: %d, want 404", path, code)
		}
	}
	// A run that fails reports why.
	var run shared.Run
	adm.json("POST", "/api/runs", shared.CreateRunRequest{Kind: shared.KindFinetune, Config: baseline(t, "# fail: data: lenses/3.npy: corrupt")}, &run)
	j := f.waitRun(t, run.ID, shared.StateFailed)
	if !strings.Contains(j.Error, "lenses/3.npy: corrupt") {
		t.Errorf("failure %q", j.Error)
	}
}

// A reproduce run gets its config beside a copy of the shipped configs,
// whose base configs it names by relative path.
func TestReproduceRun(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	run := adm.createRun(shared.CreateRunRequest{Kind: shared.KindReproduce, Template: "reproduce-cpu"})
	if !strings.Contains(run.Config, "backbones") || !strings.Contains(run.Name, "CPU preset") {
		t.Errorf("run %+v", run)
	}
	j := f.waitRun(t, run.ID, shared.StateFailed) // the stand-in sslens has no reproduce
	if len(j.Args) < 2 || j.Args[0] != "reproduce" || !strings.HasSuffix(j.Args[1], "configs/reproduce.yaml") {
		t.Fatalf("args %v", j.Args)
	}
	for _, p := range []string{j.Args[1], filepath.Join(filepath.Dir(j.Args[1]), "reference", "dino-vit-small.yaml")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	var plain shared.Run
	if code := adm.json("POST", "/api/runs", shared.CreateRunRequest{Kind: shared.KindReproduce}, &plain); code != 201 || plain.Config != "" {
		t.Errorf("reproduce with the default config: %d %+v", code, plain)
	}
	for name, body := range map[string]string{
		"bad key":   mustJSON(shared.CreateRunRequest{Kind: shared.KindReproduce, Config: "backbones: [vit_huge]\n"}),
		"both":      mustJSON(shared.CreateRunRequest{Kind: shared.KindReproduce, Template: "reproduce-cpu", Config: "x: 1"}),
		"not found": mustJSON(shared.CreateRunRequest{Kind: shared.KindReproduce, Template: "reproduce-gpu"}),
	} {
		if code, e := adm.apiErr("POST", "/api/runs", "application/json", []byte(body)); code != 422 {
			t.Errorf("%s: %d %+v, want 422", name, code, e)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestConfigTemplatesAndValidation(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	top, _ := fs.Glob(configs.FS, "*.yaml")
	ref, _ := fs.Glob(configs.FS, "reference/*.yaml")
	var ts []shared.ConfigTemplate
	if code := c.json("GET", "/api/configs", nil, &ts); code != 200 || len(ts) != len(top)+len(ref) || len(ref) != 6 {
		t.Fatalf("configs: %d, %d templates for %d + %d files", code, len(ts), len(top), len(ref))
	}
	kinds := map[string]shared.RunKind{}
	for _, tp := range ts {
		kinds[tp.Name] = tp.Kind
		if tp.Method == "" || tp.YAML == "" {
			t.Errorf("template %s does not load: %+v", tp.Name, tp)
		}
	}
	if kinds["supervised-vit-nano"] != shared.KindFinetune || kinds["reference/ibot-vit-small"] != shared.KindPretrain || kinds["reproduce-cpu"] != shared.KindReproduce {
		t.Errorf("template kinds %v", kinds)
	}
	tests := []struct {
		config string
		ok     bool
		key    string
	}{
		{baseline(t, ""), true, ""},
		{baseline(t, "bogus: 1\n"), true, ""},
		{"experiment:\n  ssl_training: dino\noptimizer:\n  init_lr: abc\n", false, "optimizer.init_lr"},
		{"experiment:\n  ssl_training: foo\n", false, "experiment.ssl_training"},
		{"[", false, ""},
	}
	for _, tt := range tests {
		var resp shared.ValidateConfigResponse
		if code := c.json("POST", "/api/configs/validate", shared.ValidateConfigRequest{Config: tt.config}, &resp); code != 200 {
			t.Fatalf("validate: %d", code)
		}
		if resp.OK != tt.ok || (!tt.ok && (len(resp.Errors) != 1 || resp.Errors[0].Key != tt.key)) {
			t.Errorf("validate %q: %+v", tt.config[:min(30, len(tt.config))], resp)
		}
	}
	var warned shared.ValidateConfigResponse
	c.json("POST", "/api/configs/validate", shared.ValidateConfigRequest{Config: baseline(t, "bogus: 1\n")}, &warned)
	if len(warned.Warnings) != 1 || !strings.HasPrefix(warned.Warnings[0], "bogus") || warned.Kind != shared.KindFinetune {
		t.Errorf("warnings %+v", warned)
	}
}

// Config checks name the key they concern as a typed error, which the
// server passes on as a field error; an error that names no key becomes a
// keyless field.
func TestConfigFields(t *testing.T) {
	parse := func(yaml string) error {
		_, err := config.Parse([]byte(yaml))
		if err == nil {
			t.Fatalf("%q parsed", yaml)
		}
		return err
	}
	tests := []struct {
		name string
		err  error
		want []shared.FieldError
	}{
		{"validation", parse("experiment: {ssl_training: supervised}\ntrain args: {batch_size: 0}\n"),
			[]shared.FieldError{{Key: "train args.batch_size", Message: "0 is not positive"}}},
		{"unknown method", parse("experiment: {ssl_training: byol}\n"),
			[]shared.FieldError{{Key: "experiment.ssl_training", Message: "line 1: unknown method \"byol\" (want one of supervised, finetune, dino, ibot, simsiam)"}}},
		{"decoding", parse("experiment: {ssl_training: dino}\noptimizer: {init_lr: [1]}\n"),
			[]shared.FieldError{{Key: "optimizer.init_lr", Message: "line 2: a list of 1 is not a number"}}},
		{"wrapped", fmt.Errorf("config: run.yaml: %w", shared.FieldErrorf("finetune.labels", "%q is not one of 300", "7")),
			[]shared.FieldError{{Key: "finetune.labels", Message: `"7" is not one of 300`}}},
		{"joined", errors.Join(errors.New("a: b"), shared.FieldErrorf("input.data path", "empty")),
			[]shared.FieldError{{Message: "a: b"}, {Key: "input.data path", Message: "empty"}}},
		{"syntax", parse("experiment: [\n"), nil},
	}
	for _, tt := range tests {
		got := configFields(tt.err)
		if tt.want == nil {
			if len(got) != 1 || got[0].Key != "" || got[0].Message != tt.err.Error() {
				t.Errorf("%s: %+v, want the whole error as one keyless field", tt.name, got)
			}
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestPreview(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	img := f.dsIx.images[0].ID
	tests := []struct {
		template      string
		method        string
		global, local int
		masked        bool
	}{
		{"reference/dino-vit-small", "dino", 2, -1, false},
		{"reference/ibot-vit-small", "ibot", 2, -1, true},
		{"reference/simsiam-vit-small", "simsiam", 2, 0, false},
		{"supervised-vit-nano", "none", 1, 0, false},
	}
	for _, tt := range tests {
		var resp shared.PreviewResponse
		if code := c.json("POST", "/api/preview", shared.PreviewRequest{Dataset: f.ds, Image: img, Template: tt.template, Seed: 7, Scale: 2}, &resp); code != 200 {
			t.Errorf("%s: status %d", tt.template, code)
			continue
		}
		var g, l int
		for _, v := range resp.Views {
			im, err := png.Decode(bytes.NewReader(v.PNG))
			if err != nil || im.Bounds().Dx() != 2*v.Size {
				t.Errorf("%s: view %s %d: %v, %v", tt.template, v.Kind, v.Index, err, im.Bounds())
			}
			if v.Kind == "global" {
				g++
				if tt.masked != (v.Mask != nil) || (tt.masked && (v.MaskSide*v.MaskSide != len(v.Mask) || v.MaskPNG == nil)) {
					t.Errorf("%s: global view %d mask %v side %d", tt.template, v.Index, v.Mask, v.MaskSide)
				}
			} else {
				l++
			}
		}
		if resp.Method != tt.method || g != tt.global || (tt.local >= 0 && l != tt.local) || (tt.local < 0 && l == 0) || len(resp.Original) == 0 {
			t.Errorf("%s: method %q, %d global, %d local views", tt.template, resp.Method, g, l)
		}
		// The reference configs ask for a GPU and mixed precision: training
		// matters, not what a preview of crops shows.
		for _, w := range resp.Warnings {
			if strings.HasPrefix(w, "experiment.") {
				t.Errorf("%s: the preview warns %q", tt.template, w)
			}
		}
	}
	// The same seed gives the same views; another seed others.
	var r1, r2, r3 shared.PreviewResponse
	req := shared.PreviewRequest{Dataset: f.ds, Image: img, Template: "reference/dino-vit-small", Seed: 1}
	c.json("POST", "/api/preview", req, &r1)
	c.json("POST", "/api/preview", req, &r2)
	req.Seed = 2
	c.json("POST", "/api/preview", req, &r3)
	if !bytes.Equal(r1.Views[0].PNG, r2.Views[0].PNG) || bytes.Equal(r1.Views[0].PNG, r3.Views[0].PNG) {
		t.Error("previews are not a function of the seed")
	}
	bad := []struct {
		name  string
		req   shared.PreviewRequest
		code  int
		field string
	}{
		{"unknown image", shared.PreviewRequest{Dataset: f.ds, Image: "lenses/nope.npy", Template: "reference/dino-vit-small"}, 422, "image"},
		{"traversal", shared.PreviewRequest{Dataset: f.ds, Image: "../sslens.db", Template: "reference/dino-vit-small"}, 422, "image"},
		{"unknown dataset", shared.PreviewRequest{Dataset: 9, Image: img, Template: "reference/dino-vit-small"}, 404, ""},
		{"bad config", shared.PreviewRequest{Dataset: f.ds, Image: img, Config: "experiment:\n  ssl_training: dino\nssl augmentation kwargs:\n  num_local_crops: x\n"}, 422, "ssl augmentation kwargs.num_local_crops"},
		{"no config", shared.PreviewRequest{Dataset: f.ds, Image: img}, 422, "config"},
		{"scale", shared.PreviewRequest{Dataset: f.ds, Image: img, Template: "reference/dino-vit-small", Scale: 9}, 422, "scale"},
	}
	for _, b := range bad {
		code, e := c.apiErr("POST", "/api/preview", "application/json", []byte(mustJSON(b.req)))
		if code != b.code || (b.field != "" && (len(e.Fields) == 0 || e.Fields[0].Key != b.field)) {
			t.Errorf("%s: %d %+v", b.name, code, e)
		}
	}
}

// An astronomer may queue DefaultMaxQueued runs, not one more, and cancel
// their own runs but not another user's; admins cancel any.
func TestRunQueueCapAndCancel(t *testing.T) {
	f := newFixture(t, HubOptions{})
	ctx := context.Background()
	adm, astro := f.login(t, adminUser), f.login(t, astroUser)
	trained := adm.createRun(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: baseline(t, "# steps: 2\n")})
	f.waitRun(t, trained.ID, shared.StateSucceeded)
	cks, err := f.st.Checkpoints(ctx, store.CheckpointFilter{Run: trained.ID, Classifier: true})
	if err != nil || len(cks) == 0 {
		t.Fatalf("checkpoints %+v, %v", cks, err)
	}
	// Runs that wait for a cancelled run stay queued: the queue cannot
	// drain while the test counts.
	blocker, _, err := f.st.CreateRun(ctx, store.NewRun{Kind: shared.KindFinetune, CreatedBy: adminUser})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.SetState(ctx, blocker.ID, store.Transition{To: shared.StateCancelled}); err != nil {
		t.Fatal(err)
	}
	queue := func(user string) store.Run {
		t.Helper()
		j, err := f.mgr.Submit(ctx, jobs.Submission{NewRun: store.NewRun{Kind: shared.KindScore, CreatedBy: user, After: blocker.ID},
			Params: jobs.Params{Checkpoint: cks[0].ID}})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	var mine []store.Run
	for range jobs.DefaultMaxQueued {
		mine = append(mine, queue(astroUser))
	}
	theirs := queue(adminUser)
	score := shared.ScoreRequest{Checkpoint: cks[0].ID}
	code, e := astro.apiErr("POST", "/api/uploads/score", "application/json", []byte(mustJSON(score)))
	if code != 409 || e.Code != shared.CodeConflict || !strings.Contains(e.Message, "4 queued runs") || !strings.Contains(e.Message, "cancel one") {
		t.Fatalf("fifth queued run: %d %+v, want 409 naming the cap", code, e)
	}
	var extra shared.Run
	if code := adm.json("POST", "/api/uploads/score", score, &extra); code != 202 {
		t.Errorf("an admin's queued run refused: %d", code)
	}

	if code, e := astro.apiErr("POST", fmt.Sprintf("/api/runs/%d/cancel", theirs.ID), "", nil); code != 403 || !strings.Contains(e.Message, "your own") {
		t.Errorf("cancelling another user's run: %d %+v, want 403", code, e)
	}
	if j, _ := f.st.Run(ctx, theirs.ID); j.State != shared.StateQueued {
		t.Errorf("another user's run is %s after a refused cancel", j.State)
	}
	var got shared.Run
	if code := astro.json("POST", fmt.Sprintf("/api/runs/%d/cancel", mine[0].ID), nil, &got); code != 200 || got.State != shared.StateCancelled {
		t.Fatalf("cancelling my own run: %d %+v", code, got)
	}
	if code := astro.json("POST", "/api/uploads/score", score, &got); code != 202 {
		t.Errorf("queueing after cancelling one: %d", code)
	}
	if code := adm.json("POST", fmt.Sprintf("/api/runs/%d/cancel", mine[1].ID), nil, &got); code != 200 || got.State != shared.StateCancelled {
		t.Errorf("an admin cancelling an astronomer's run: %d %+v", code, got)
	}
	if code, _ := astro.apiErr("POST", fmt.Sprintf("/api/runs/%d/resume", mine[0].ID), "", nil); code != 403 {
		t.Errorf("an astronomer resuming: %d, want 403", code)
	}
}

// TestJobMemory: a config's planned step memory comes with its validation;
// within the server's per-job budget a large step gets micro-batches, a
// step that cannot fit and an explicit micro-batch above the budget are
// refused by key, at validation and at launch, and nothing is queued.
func TestJobMemory(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	tmpl, err := fs.ReadFile(configs.FS, "reference/dino-vit-small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(config string) shared.ValidateConfigResponse {
		t.Helper()
		var resp shared.ValidateConfigResponse
		if code := adm.json("POST", "/api/configs/validate", shared.ValidateConfigRequest{Config: config}, &resp); code != 200 {
			t.Fatalf("validate: %d", code)
		}
		return resp
	}
	whole := validate(string(tmpl))
	if !whole.OK || whole.Memory == nil || whole.Memory.Chunk != 128 || whole.Memory.Batch != 128 || whole.Memory.Budget != 0 {
		t.Fatalf("no budget: %+v %+v", whole, whole.Memory)
	}
	f.srv.opt.JobMemory = 6 << 30
	fits := validate(string(tmpl))
	if m := fits.Memory; !fits.OK || m == nil || m.Chunk >= 128 || 128%m.Chunk != 0 || m.Bytes > 6<<30 || m.Bytes >= whole.Memory.Bytes || m.Budget != 6<<30 {
		t.Errorf("6 GiB budget: %+v %+v", fits, fits.Memory)
	}
	before := f.fingerprint(t)
	for _, tc := range []struct {
		name, config string
		budget       int64
		key, says    string
	}{
		{"too small for one image", string(tmpl), 256 << 20, "train args.max_memory", "needs at least"},
		{"explicit micro-batch", strings.Replace(string(tmpl), "batch_size: 128", "batch_size: 128\n  micro_batch: 128", 1), 6 << 30,
			"train args.micro_batch", "more than the 6.0 GiB a job may take"},
	} {
		f.srv.opt.JobMemory = tc.budget
		r := validate(tc.config)
		if r.OK || len(r.Errors) != 1 || r.Errors[0].Key != tc.key || !strings.Contains(r.Errors[0].Message, tc.says) {
			t.Errorf("%s: validation %+v", tc.name, r)
		}
		code, e := adm.apiErr("POST", "/api/runs", "application/json", []byte(mustJSON(shared.CreateRunRequest{Kind: shared.KindPretrain, Config: tc.config})))
		if code != 422 || len(e.Fields) != 1 || e.Fields[0].Key != tc.key {
			t.Errorf("%s: launch answered %d %+v", tc.name, code, e)
		}
	}
	if f.fingerprint(t) != before {
		t.Error("a refused launch changed the store")
	}
}

// A training run on the Slurm executor, end to end through the API and
// the websocket: submitted to Slurm, its job's state and its metrics
// streamed, cancelled with a checkpoint, resumed, finished, every event
// received once and in order. Needs a Slurm cluster
// (backend/jobs/slurm/single-node.sh).
func TestRunEndToEndOnSlurm(t *testing.T) {
	jobstest.NeedSlurm(t)
	f := newFixtureOn(t, HubOptions{}, func(exe string, env []string) jobs.Executor {
		return &jobs.Slurm{Exe: exe, Env: env, Poll: 100 * time.Millisecond}
	}, 0)
	adm := f.login(t, adminUser)
	run := adm.createRun(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: baseline(t, "# steps: 300\n# step_ms: 20\n# ckpt_every: 20\n"), Name: "slurm e2e"})
	w := f.dial(t, adm)
	w.send(t, shared.ClientMessage{Type: shared.MsgSubscribe, Run: run.ID})
	w.waitFor(t, "Slurm running the job", func(ev shared.Event) bool {
		return ev.Run == run.ID && ev.Type == shared.EventCluster && ev.Cluster.State == "running"
	})
	w.waitFor(t, "a checkpoint", func(ev shared.Event) bool {
		return ev.Run == run.ID && ev.Type == shared.EventMetric && ev.Metric.Checkpoint != ""
	})
	var got shared.Run
	adm.json("GET", fmt.Sprintf("/api/runs/%d", run.ID), nil, &got)
	if got.Host != "slurm" || !strings.HasPrefix(got.Handle, "slurm job ") || got.Cluster == nil || got.Cluster.Node == "" {
		t.Errorf("the run is on %q as %q, cluster %+v; want a Slurm job on a node", got.Host, got.Handle, got.Cluster)
	}
	if code := adm.json("POST", fmt.Sprintf("/api/runs/%d/cancel", run.ID), nil, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	w.waitFor(t, "cancelled", stateIs(run.ID, shared.StateCancelled))
	if code := adm.json("POST", fmt.Sprintf("/api/runs/%d/resume", run.ID), nil, nil); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	w.waitFor(t, "success", stateIs(run.ID, shared.StateSucceeded))
	adm.json("GET", fmt.Sprintf("/api/runs/%d", run.ID), nil, &got)
	checkSeqs(t, "the client", w.events(), run.ID, 1, got.LastSeq)
	var metrics []shared.Metric
	adm.json("GET", fmt.Sprintf("/api/runs/%d/metrics?kind=step", run.ID), nil, &metrics)
	if len(metrics) != 300 || metrics[299].Step != 300 {
		t.Errorf("%d step metrics after the resume, want 300", len(metrics))
	}
}

// TestGPURuns checks experiment.device cuda through the portal: a server
// without GPUs refuses it by key when validating and creating; one with
// them says so in the session, queues the run on a GPU and shows the
// device it runs on.
func TestGPURuns(t *testing.T) {
	onGPU := strings.Replace(baseline(t, "# steps: 100000\n# step_ms: 10\n"), "ssl_training: supervised", "ssl_training: supervised\n  device: cuda", 1)

	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	var resp shared.ValidateConfigResponse
	adm.json("POST", "/api/configs/validate", shared.ValidateConfigRequest{Config: onGPU}, &resp)
	if resp.OK || len(resp.Errors) != 1 || resp.Errors[0].Key != "experiment.device" || !strings.Contains(resp.Errors[0].Message, "no GPUs for jobs") {
		t.Errorf("validating a cuda config without GPUs: %+v", resp)
	}
	body, _ := json.Marshal(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: onGPU})
	if code, eb := adm.apiErr("POST", "/api/runs", "application/json", body); code != 422 || len(eb.Fields) != 1 || eb.Fields[0].Key != "experiment.device" {
		t.Errorf("creating a cuda run without GPUs: %d %+v", code, eb)
	}
	var me shared.Session
	if adm.json("GET", "/api/me", nil, &me); me.GPUs != 0 {
		t.Errorf("session of a server without GPUs: %+v", me)
	}
	for device, want := range map[string]string{"cuda": "no GPUs for jobs", "tpu": `"tpu": want cpu or cuda`} {
		body, _ := json.Marshal(shared.CreateRunRequest{Kind: shared.KindSurvey, Survey: &shared.SurveyRequest{Paths: []string{"x"}, Device: device}})
		code, eb := adm.apiErr("POST", "/api/runs", "application/json", body)
		found := false
		for _, fe := range eb.Fields {
			found = found || (fe.Key == "survey.device" && strings.Contains(fe.Message, want))
		}
		if code != 422 || !found {
			t.Errorf("a survey on device %s: %d %+v", device, code, eb)
		}
	}

	g := newFixtureOn(t, HubOptions{}, func(exe string, env []string) jobs.Executor { return &jobs.Local{Exe: exe, Env: env} }, 2)
	adm = g.login(t, adminUser)
	if adm.json("GET", "/api/me", nil, &me); me.GPUs != 2 {
		t.Errorf("session of a server with 2 GPUs: %+v", me)
	}
	run := adm.createRun(shared.CreateRunRequest{Kind: shared.KindFinetune, Config: onGPU})
	g.waitRun(t, run.ID, shared.StateRunning)
	var shown shared.Run
	adm.json("GET", fmt.Sprintf("/api/runs/%d", run.ID), nil, &shown)
	if shown.Device != "cuda:0" {
		t.Errorf("the run shows device %q, want cuda:0 (args %v)", shown.Device, shown.Args)
	}
	adm.json("POST", fmt.Sprintf("/api/runs/%d/cancel", run.ID), nil, nil)
	g.waitRun(t, run.ID, shared.StateCancelled)
}
