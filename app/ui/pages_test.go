package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// fakeAPI is a stand-in server for page tests: fixed answers, and a log of
// the requests' paths and queries.
type fakeAPI struct {
	mu   sync.Mutex
	seen []string
	srv  *httptest.Server
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	mux := http.NewServeMux()
	js := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/datasets", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, []shared.Dataset{
			{ID: 1, Name: "sim-hsc", State: shared.DatasetReady, Survey: "hsc", Images: 303, Lenses: 150, NonLenses: 153, SortKeys: []string{"theta_e"}},
			{ID: 2, Name: "sim-des", State: shared.DatasetBuilding, Job: 9},
		})
	})
	mux.HandleFunc("GET /api/datasets/1/images", func(w http.ResponseWriter, r *http.Request) {
		page := 1
		if r.URL.Query().Get("page") == "2" {
			page = 2
		}
		imgs := make([]shared.ImageSummary, 3)
		for i := range imgs {
			imgs[i] = shared.ImageSummary{ID: "lenses/" + string(rune('a'+i)) + ".npy", Class: shared.ClassLens, Split: "test", Params: map[string]float64{"theta_e": 1.25}}
		}
		js(w, 200, shared.ImagePage{Dataset: 1, Total: 100, Page: page, PerPage: perPage, Images: imgs})
	})
	mux.HandleFunc("GET /api/configs", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, []shared.ConfigTemplate{
			{Name: "supervised-vit-nano", Method: "supervised", Backbone: "vit_nano", Kind: shared.KindFinetune,
				YAML: "experiment:\n  ssl_training: supervised\nnetwork:\n  backbone: vit_nano\ntrain args:\n  num_epochs: 0\nfinetune:\n  labels: all\n"},
		})
	})
	mux.HandleFunc("POST /api/configs/validate", func(w http.ResponseWriter, r *http.Request) {
		var req shared.ValidateConfigRequest
		json.NewDecoder(r.Body).Decode(&req)
		if strings.Contains(req.Config, "num_epochs: 0") {
			js(w, 200, shared.ValidateConfigResponse{Errors: []shared.FieldError{{Key: "train args.num_epochs", Message: "want at least 1"}}})
			return
		}
		js(w, 200, shared.ValidateConfigResponse{OK: true, Method: "supervised", Kind: shared.KindFinetune})
	})
	mux.HandleFunc("GET /api/results", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, fakeResults)
	})
	mux.HandleFunc("GET /api/runs", func(w http.ResponseWriter, r *http.Request) { js(w, 200, []shared.Run{}) })
	mux.HandleFunc("GET /api/runs/3", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, shared.Run{ID: 3, Kind: shared.KindFinetune, Name: "tiny", State: shared.StateQueued, CreatedBy: "ada"})
	})
	mux.HandleFunc("GET /api/models", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, shared.ModelStatus{Ready: true, Default: 9, Checkpoints: []shared.Checkpoint{{ID: 9, Run: 4, RunName: "sup", Name: "best", Preset: "vit_nano", Classifier: true, Epoch: 3}}})
	})
	mux.HandleFunc("GET /api/runs/3/checkpoints", func(w http.ResponseWriter, r *http.Request) { js(w, 200, []shared.Checkpoint{}) })
	mux.HandleFunc("GET /api/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if _, _, err := c.Read(r.Context()); err != nil { // the subscription
			return
		}
		evs := []shared.Event{{Type: shared.EventState, Run: 3, Seq: 1, State: &shared.StateChange{State: shared.StateRunning}}}
		for i := 1; i <= 5; i++ {
			loss := 1 / float64(i)
			evs = append(evs, shared.Event{Type: shared.EventMetric, Run: 3, Seq: int64(i + 1),
				Metric: &shared.Metric{Seq: i, Kind: shared.MetricStep, Step: i, Loss: &loss}})
		}
		evs = append(evs, shared.Event{Type: shared.EventState, Run: 3, Seq: 7, State: &shared.StateChange{State: shared.StateSucceeded}})
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			if c.Write(r.Context(), websocket.MessageText, b) != nil {
				return
			}
		}
		<-r.Context().Done()
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Method+" "+r.URL.RequestURI())
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) saw(req string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.seen {
		if s == req {
			return true
		}
	}
	return false
}

// signedIn returns an Env whose session is already known.
func (f *fakeAPI) signedIn(role shared.Role) *Env {
	env := NewEnv(api.New(f.srv.URL, nil))
	env.sess = &shared.Session{User: shared.User{Name: "ada", Role: role}, CSRFToken: "tok"}
	return env
}

// open mounts c as the browser would at address u and runs its loading.
func open(t *testing.T, c app.Composer, u string) app.ClientDispatcher {
	t.Helper()
	disp := app.NewClientTester(c)
	t.Cleanup(disp.Close)
	parsed, err := url.Parse("http://portal.test" + u)
	if err != nil {
		t.Fatal(err)
	}
	disp.Nav(parsed)
	disp.Consume()
	return disp
}

// settle runs the dispatcher until cond holds (events arriving from a
// websocket goroutine), failing after a few seconds.
func settle(t *testing.T, disp app.ClientDispatcher, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the page")
		}
		time.Sleep(10 * time.Millisecond)
		disp.Consume()
	}
}

func htmlOf(c app.UI) string {
	var b strings.Builder
	app.PrintHTML(&b, c)
	return b.String()
}

func mustContain(t *testing.T, html string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(html, w) {
			t.Errorf("page lacks %s", w)
		}
	}
}

func TestSignedOutVisitorGoesToSignIn(t *testing.T) {
	f := newFakeAPI(t)
	d := &Datasets{page: page{env: NewEnv(api.New(f.srv.URL, nil))}}
	open(t, d, "/datasets")
	if d.state != stateSignedOut {
		t.Errorf("state %q, want %q", d.state, stateSignedOut)
	}
	if f.saw("GET /api/me") || f.saw("GET /api/datasets") {
		t.Errorf("a signed-out page called the API: %v", f.seen)
	}
	mustContain(t, htmlOf(d), `data-state="signed-out"`, `href="/login"`)
}

func TestDatasetBrowser(t *testing.T) {
	f := newFakeAPI(t)
	d := &Datasets{page: page{env: f.signedIn(shared.RoleAstronomer)}}
	disp := open(t, d, "/datasets?split=test&class=lenses&sort=theta_e&order=desc&page=2")

	if !f.saw("GET /api/datasets/1/images?class=lenses&order=desc&page=2&per_page=48&sort=theta_e&split=test") {
		t.Fatalf("filters not sent as asked; requests: %v", f.seen)
	}
	html := htmlOf(d)
	mustContain(t, html,
		`data-state="ready"`, `data-mounted`,
		`href="/datasets/1/images/lenses/a.npy"`,
		`src="/api/datasets/1/images/lenses/a.npy/png?scale=3"`,
		"theta_e = 1.25",
		"Page 2 of 3 · 100 images",
		`href="/datasets?class=lenses&dataset=1&order=desc&sort=theta_e&split=test"`, // previous: page 1
		`href="/datasets?class=lenses&dataset=1&order=desc&page=3&sort=theta_e&split=test"`,
		"sim-des (building)",
	)
	if strings.Contains(html, `href="/launch"`) {
		t.Error("an astronomer's navigation shows Launch")
	}

	// Another dataset: the building one shows where its job is.
	disp.Nav(&url.URL{Path: "/datasets", RawQuery: "dataset=2"})
	disp.Consume()
	mustContain(t, htmlOf(d), "Dataset sim-des is building.", `href="/runs/9"`)
}

func TestLaunchForbiddenForAstronomers(t *testing.T) {
	f := newFakeAPI(t)
	l := &Launch{page: page{env: f.signedIn(shared.RoleAstronomer)}}
	open(t, l, "/launch")
	if l.state != stateForbidden {
		t.Fatalf("state %q, want forbidden", l.state)
	}
	html := htmlOf(l)
	mustContain(t, html, "Admins only", `data-state="forbidden"`)
	if strings.Contains(html, `id="launch-form"`) || f.saw("GET /api/configs") {
		t.Error("an astronomer got the launch form")
	}
}

// The server's validation errors show beside the field they concern
// before anything is submitted.
func TestLaunchValidatesAsYouEdit(t *testing.T) {
	f := newFakeAPI(t)
	l := &Launch{page: page{env: f.signedIn(shared.RoleAdmin)}}
	disp := open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })

	html := htmlOf(l)
	mustContain(t, html, `href="/launch"`, `id="launch-form"`, "1 problem", "want at least 1", `data-key="train args.num_epochs"`)
	if f.saw("POST /api/runs") {
		t.Error("validation submitted a run")
	}

	// Fixing the field through the form rewrites the YAML and clears it.
	disp.Dispatch(app.Dispatch{Source: l, Function: func(ctx app.Context) {
		l.yaml = yamlSet(l.yaml, "train args", "num_epochs", "2")
		l.validate(ctx)
	}})
	disp.Consume()
	settle(t, disp, func() bool { return l.validated })
	if len(l.errs) != 0 || !strings.Contains(htmlOf(l), "config valid") {
		t.Errorf("errors after the fix: %v", l.errs)
	}
	if r := l.request(); r.Kind != shared.KindFinetune || r.Dataset != 1 || !strings.Contains(r.Config, "num_epochs: 2") {
		t.Errorf("request = %+v", r)
	}
}

// The run page draws its charts from the websocket's events and follows
// the run to its end.
func TestRunPageLive(t *testing.T) {
	f := newFakeAPI(t)
	v := &RunView{page: page{env: f.signedIn(shared.RoleAdmin)}}
	disp := open(t, v, "/runs/3")
	settle(t, disp, func() bool { return v.m != nil && v.m.run.State == shared.StateSucceeded })

	if got := len(v.m.charts().Loss[0].Points); got != 5 {
		t.Errorf("loss chart has %d points, want 5", got)
	}
	html := htmlOf(v)
	mustContain(t, html, `data-state="succeeded"`, `data-points="5"`, "train 0.2", "badge live")
	if strings.Contains(html, `id="cancel-run"`) {
		t.Error("a finished run offers cancel")
	}
}

// An upload's answer lists every file: the good ones with their scores,
// the bad one with its reason.
func TestScoreShowsPerFileOutcome(t *testing.T) {
	f := newFakeAPI(t)
	s := &Score{page: page{env: f.signedIn(shared.RoleAstronomer)}}
	s.models = &shared.ModelStatus{Ready: true}
	s.mounted = true
	disp := app.NewClientTester(s)
	t.Cleanup(disp.Close)
	resp := shared.UploadResponse{Accepted: 2, Rejected: 1, Scoring: shared.ScoringDone, Checkpoint: 4,
		Files: []shared.UploadFile{
			{Name: "a.fits", Upload: &shared.Upload{ID: 1, Name: "a.fits"}},
			{Name: "b.fits", Upload: &shared.Upload{ID: 2, Name: "b.fits"}, Duplicate: true},
			{Name: "bad.fits", Error: "not a FITS file: missing SIMPLE card"},
		},
		Uploads: []shared.Upload{
			{ID: 1, Name: "a.fits", Score: &shared.Score{LensProb: 0.91}},
			{ID: 2, Name: "b.fits", Score: &shared.Score{LensProb: 0.12}},
		},
	}
	b, _ := json.Marshal(resp)
	s.sending = []pendingFile{{"a.fits", 10}}
	disp.Dispatch(app.Dispatch{Source: s, Function: func(ctx app.Context) { s.received(ctx, 200, string(b)) }})
	disp.Consume()

	if s.sending != nil || s.last == nil {
		t.Fatalf("upload not finished: sending %v", s.sending)
	}
	html := htmlOf(s)
	mustContain(t, html, "P(lens) 0.910", "P(lens) 0.120 · uploaded before", "not a FITS file: missing SIMPLE card",
		"2 files accepted, 1 rejected. Scored.", `href="/api/uploads/export?format=csv&mine=1"`)
	if n := strings.Count(html, `class="file bad"`); n != 1 {
		t.Errorf("%d bad files shown, want 1", n)
	}

	// A request the server refuses as a whole shows its message.
	s.sending = []pendingFile{{"big.zip", 1 << 30}}
	errBody := `{"error":{"code":"too_large","message":"request over 50 MB"}}`
	disp.Dispatch(app.Dispatch{Source: s, Function: func(ctx app.Context) { s.received(ctx, 413, errBody) }})
	disp.Consume()
	mustContain(t, htmlOf(s), "request over 50 MB", `data-state="error"`)
}

// The model menu names the default once, with its validation AUC; another
// model offers to score the table's uploads, and to admins to become the
// default.
func TestScoreModelMenu(t *testing.T) {
	ms := &shared.ModelStatus{Ready: true, Default: 4, PromotedBy: "ada", Promoted: time.Now().Add(-time.Hour), Checkpoints: []shared.Checkpoint{
		{ID: 7, RunName: "test-4ep", Preset: "vit_nano", Name: "best", Epoch: 4, Metrics: map[string]float64{"val_auc": 0.75}},
		{ID: 4, RunName: "baseline", Preset: "vit_nano", Name: "best", Epoch: 30, Metrics: map[string]float64{"val_auc": 0.96}},
	}}
	for _, role := range []shared.Role{shared.RoleAstronomer, shared.RoleAdmin} {
		f := newFakeAPI(t)
		render := func(checkpoint int64) string {
			env := f.signedIn(role)
			s := &Score{page: page{env: env, sess: env.sess}, models: ms, checkpoint: checkpoint}
			s.mounted, s.uploads = true, []shared.Upload{{ID: 1, Name: "a.fits"}}
			return htmlOf(s)
		}
		html := render(0)
		mustContain(t, html, "default model: baseline · vit_nano · best epoch 30 · val AUC 0.960", "test-4ep · vit_nano · best epoch 4 · val AUC 0.750",
			"Default model promoted by ada, 1 h ago.")
		if n := strings.Count(html, "baseline · vit_nano"); n != 1 || strings.Contains(html, "(default)") {
			t.Errorf("%s: the default is listed %d times", role, n)
		}
		if strings.Contains(html, `id="score-visible"`) || strings.Contains(html, `id="promote-model"`) {
			t.Errorf("%s: the default model offers to re-score or promote itself", role)
		}
		html = render(7)
		mustContain(t, html, `id="score-visible"`)
		if got := strings.Contains(html, `id="promote-model"`); got != (role == shared.RoleAdmin) {
			t.Errorf("%s: promote offered %v", role, got)
		}
	}
}

// Positions show in the table (sexagesimal), with a badge for uploads of
// the same position, and in the detail with links to the sky around it.
func TestScoreShowsPositions(t *testing.T) {
	f := newFakeAPI(t)
	p := &shared.Position{RA: 150.1163, Dec: 2.2058, Sexagesimal: "10:00:27.91 +02:12:20.9", From: "WCS"}
	s := &Score{page: page{env: f.signedIn(shared.RoleAstronomer)}, models: &shared.ModelStatus{Ready: true}}
	s.mounted = true
	s.uploads = []shared.Upload{{ID: 1, Name: "a.fits", Object: "SuGOHI-1", Position: p, SamePosition: []int64{2}}, {ID: 2, Name: "b.npy"}}
	s.selected, s.detail = 1, &shared.ImageDetail{}
	html := htmlOf(s)
	mustContain(t, html, `id="candidate-image"`, "/api/uploads/1/png?band=rgb&q=10&scale=10&soft=0.6", `id="lup-q"`, `id="view-g"`, `width="96"`,
		"10:00:27.91 +02:12:20.9", "same position as 1 other", `id="upload-sky"`, "SuGOHI-1",
		"(150.116300°, +2.205800°)", "https://www.legacysurvey.org/viewer?ra=150.116300&dec=2.205800", "simbad.cds.unistra.fr", "uploads #2 lie within 1 arcsec")
	if n := strings.Count(html, "same position as"); n != 1 {
		t.Errorf("%d same-position badges, want 1", n)
	}
}

// The open candidate shows grade buttons (one pressed for the caller's
// grade), the keys, and the others' grades only once graded.
func TestScoreGradingBlock(t *testing.T) {
	f := newFakeAPI(t)
	render := func(v shared.GradesView) string {
		s := &Score{page: page{env: f.signedIn(shared.RoleAstronomer)}, models: &shared.ModelStatus{Ready: true}}
		s.mounted = true
		s.uploads = []shared.Upload{{ID: 1, Name: "a.fits"}}
		s.selected, s.detail, s.grades = 1, &shared.ImageDetail{}, &v
		k := 0.62
		s.grading = &shared.GradingSummary{Candidates: 40, Graded: 12, Kappa: &k, KappaCandidates: 9,
			Purity: []shared.PurityAtN{{N: 10, Graded: 8, Lenses: 6, Purity: 0.75, Missed: 2}}}
		return htmlOf(s)
	}
	html := render(shared.GradesView{Hidden: true})
	mustContain(t, html, `id="grade-A"`, `data-grade="0"`, "0: not a lens", `id="grades-hidden"`, "3 or a grades A", `id="grade-next"`,
		"Graded 12 of 40 candidates. Graders agree with Fleiss&#39; kappa 0.62 (9 candidates graded by several). In the default model&#39;s top 10, 6 of 8 graded are A or B; 2 A or B rank below.")
	if strings.Contains(html, "button primary") {
		t.Error("a grade is pressed before grading")
	}
	html = render(shared.GradesView{Mine: &shared.Grade{Grade: "B"}, Others: []shared.Grade{{User: "ann", Grade: "A"}},
		Consensus: &shared.Consensus{Graders: 2, Mean: 2.5, Spread: 0.5, Class: "A"}})
	mustContain(t, html, "Consensus A: mean 2.50 over 2 graders (spread 0.50). Others: ann: A.")
	button := func(id string) string { // the opening tag of the button, attributes in any order
		return regexp.MustCompile(`<button[^>]*id="` + id + `"[^>]*>`).FindString(html)
	}
	if b, a := button("grade-B"), button("grade-A"); !strings.Contains(b, "primary") || strings.Contains(a, "primary") {
		t.Errorf("the caller's grade B is not the one shown pressed: %s, %s", b, a)
	}
}

// fakeResults is the fake API's /api/results: one classifier run, one
// reproduction of two backbones, and two published rows.
var fakeResults = shared.Results{
	Rows: []shared.ResultRow{{Run: 5, RunName: "sup-nano", Method: "supervised", Backbone: "vit_nano", Labels: "300", Model: "last", Epoch: 3,
		N: 20, Accuracy: 0.75, AUC: 0.8, ROC: []shared.ROCPoint{{FPR: 1, TPR: 1}, {FPR: 0, TPR: 0}}}},
	Reproductions: []shared.Reproduction{{Run: 8, RunName: "repro-run", Name: "CPU preset", Bootstrap: 100, Seeds: []uint64{1, 2},
		Test: shared.TestSplit{Images: 20, Lenses: 10, NonLenses: 10}, Backbones: []string{"vit_nano", "vit_tiny"},
		Methods: []string{"supervised", "dino"}, Labels: []string{"300", "all"},
		Rows: []shared.ReproduceRow{
			{Method: "supervised", Backbone: "vit_nano", Labels: "300", Accuracy: shared.Spread{Mean: 0.812, CI: shared.Interval{Lo: 0.7, Hi: 0.9}},
				AUC: shared.Spread{Mean: 0.8765, CI: shared.Interval{Lo: 0.8, Hi: 0.95}}, ROC: []shared.ROCPoint{{FPR: 0, TPR: 0}, {FPR: 1, TPR: 1}}},
			{Method: "dino", Backbone: "vit_nano", Labels: "300", AUC: shared.Spread{Mean: 0.9012}, ROC: []shared.ROCPoint{{FPR: 0, TPR: 0}, {FPR: 1, TPR: 1}}},
			{Method: "dino", Backbone: "vit_tiny", Labels: "all", AUC: shared.Spread{Mean: 0.5555}, ROC: []shared.ROCPoint{{FPR: 0, TPR: 0}, {FPR: 1, TPR: 1}}},
		},
		Comparisons: []shared.Comparison{{Backbone: "vit_nano", Labels: "300", Method: "dino", Verdict: shared.VerdictBetter,
			AUCDiff: shared.Diff{Diff: 0.025, CI: shared.Interval{Lo: 0.01, Hi: 0.04}, Level: 0.9958333}}},
	}},
	Reference: &shared.Reference{Source: "published README", Caveat: "subsets overlap the test split",
		Rows: []shared.ReferenceRow{{Method: "dino", Backbone: "vit_small", Labels: 300, Accuracy: 0.911609, AUC: 0.9689},
			{Method: "ibot", Backbone: "vit_base", Labels: 3863, Accuracy: 0.944591, AUC: 0.9885}}},
}

// The results page shows the classifier runs, the reproduction's table
// with its verdicts and curves, and the published rows with their caveat,
// all under the backbone and label filters.
func TestResultsPage(t *testing.T) {
	f := newFakeAPI(t)
	r := &Results{page: page{env: f.signedIn(shared.RoleAstronomer)}}
	disp := open(t, r, "/results")
	settle(t, disp, func() bool { return r.rows != nil })

	html := htmlOf(r)
	mustContain(t, html, `id="results-table"`, "sup-nano",
		`id="reproduction-8-table"`, "Reproduction CPU preset", `href="/runs/8"`, "2 seeds", "100 bootstrap resamples",
		"81.2%", "70.0–90.0", "0.8765", "0.800–0.950", `data-verdict="better"`, "vs supervised: better (ΔAUC +0.025, 0.010–0.040 at 99.58%)",
		"300 labels: accuracy, AUC", "all labels: accuracy, AUC", "0.5555",
		`id="ref-caveat"`, "subsets overlap the test split", "published README", "91.2%", "3863 (all)", "300 *",
		`<option value="vit_small"`, `<option value="vit_tiny"`,
	)
	mustContain(t, html, "sup-nano, last (AUC 0.800)", "supervised, vit_nano, 300 labels (AUC 0.87",
		"dino, vit_nano, 300 labels (AUC 0.901)", "dino, vit_tiny, all labels (AUC 0.55")

	// Filtering by backbone and label count keeps the matching cells only.
	disp.Nav(&url.URL{Path: "/results", RawQuery: "backbone=vit_nano&labels=300"})
	disp.Consume()
	html = htmlOf(r)
	mustContain(t, html, "0.9012", `data-verdict="better"`, "The reference project published no row for these filters.")
	for _, gone := range []string{"0.5555", "all labels: accuracy, AUC", "vit_tiny, all labels", "3863 (all)"} {
		if strings.Contains(html, gone) {
			t.Errorf("filtered page still shows %q", gone)
		}
	}
	mustContain(t, html, "subsets overlap the test split") // the caveat stays whatever the filter
	if !f.saw("GET /api/results?roc=1") {
		t.Errorf("results not asked with ROC points: %v", f.seen)
	}
}

// A failed sign-in keeps the user name typed (the form is drawn again with
// the error above it).
func TestLoginKeepsUserName(t *testing.T) {
	f := newFakeAPI(t)
	l := &Login{page: page{env: f.signedIn(shared.RoleAstronomer)}}
	l.mounted, l.username, l.state, l.err = true, "vera", stateError, "Wrong user name or password."
	mustContain(t, htmlOf(l), `value="vera"`, "Wrong user name or password.")
}

// The table shows what the filter keeps (ungraded, graded, consensus A or
// B), and no P(lens) while scores are hidden for grading.
func TestScoreFilterAndHiddenScores(t *testing.T) {
	f := newFakeAPI(t)
	render := func(show string, hide bool) string {
		s := &Score{page: page{env: f.signedIn(shared.RoleAstronomer)}, models: &shared.ModelStatus{Ready: true}, show: show, hideScores: hide}
		s.mounted = true
		s.uploads = []shared.Upload{
			{ID: 1, Name: "lens.fits", MyGrade: "A", Consensus: &shared.Consensus{Graders: 2, Class: "A"}, Score: &shared.Score{LensProb: 0.9}},
			{ID: 2, Name: "no.fits", MyGrade: "0", Consensus: &shared.Consensus{Graders: 1, Class: "0"}, Score: &shared.Score{LensProb: 0.4}},
			{ID: 3, Name: "new.fits", Score: &shared.Score{LensProb: 0.2}},
		}
		return htmlOf(s)
	}
	for show, want := range map[string][]string{"": {"lens.fits", "no.fits", "new.fits"}, "ungraded": {"new.fits"}, "graded": {"lens.fits", "no.fits"}, "lenses": {"lens.fits"}} {
		html := render(show, false)
		for _, name := range []string{"lens.fits", "no.fits", "new.fits"} {
			if got := strings.Contains(html, ">"+name+"<"); got != slices.Contains(want, name) {
				t.Errorf("show %q: %s shown %v", show, name, got)
			}
		}
	}
	if html := render("", true); strings.Contains(html, "prob-value") || !strings.Contains(html, "hidden while grading") {
		t.Error("scores shown while hidden")
	}
}

// The rounds table shows each scoring round's purity, the A and B
// candidates it brought into its top N and its largest moves, once
// candidates are graded.
func TestScoreRounds(t *testing.T) {
	f := newFakeAPI(t)
	render := func(graded int) string {
		s := &Score{page: page{env: f.signedIn(shared.RoleAstronomer)}, models: &shared.ModelStatus{Ready: true}}
		s.mounted = true
		s.grading = &shared.GradingSummary{Candidates: 7, Graded: graded}
		s.rounds = &shared.Rounds{N: 2, Rounds: []shared.Round{
			{Checkpoint: 1, Model: "ft · best", Scored: 6, Purity: shared.PurityAtN{N: 2, Graded: 2, Lenses: 1, Purity: 0.5, Missed: 1}},
			{Checkpoint: 2, Model: "ft2 · best", Scored: 7, Purity: shared.PurityAtN{N: 2, Graded: 2, Lenses: 2, Purity: 1},
				NewInTop: []shared.RoundCandidate{{Upload: 5, Name: "u4.npy", Rank: 1, PrevRank: 5, Consensus: "A"}},
				Movers:   []shared.RoundCandidate{{Upload: 5, Name: "u4.npy", Rank: 1, PrevRank: 5}, {Upload: 2, Name: "u1.npy", Rank: 5, PrevRank: 2}}},
		}}
		return htmlOf(s)
	}
	if strings.Contains(render(0), `id="rounds"`) {
		t.Error("rounds shown before any candidate is graded")
	}
	mustContain(t, render(3), `id="rounds"`, "Purity at 2", "ft2 · best", "2 of 2 graded (100", "u4.npy 5→1, u1.npy 2→5", ">u4.npy<")
}

// The device select shows only where the server has GPUs for jobs, and
// only for classifier runs; choosing cuda writes experiment.device.
func TestLaunchDeviceField(t *testing.T) {
	f := newFakeAPI(t)
	l := &Launch{page: page{env: f.signedIn(shared.RoleAdmin)}}
	disp := open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })
	if strings.Contains(htmlOf(l), `id="l-device"`) {
		t.Error("a server without GPUs offers the device")
	}

	env := f.signedIn(shared.RoleAdmin)
	env.sess.GPUs = 1
	l = &Launch{page: page{env: env}}
	disp = open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })
	mustContain(t, htmlOf(l), `id="l-device"`, `data-key="experiment.device"`)
	disp.Dispatch(app.Dispatch{Source: l, Function: func(ctx app.Context) {
		l.yaml = yamlSet(l.yaml, "experiment", "device", "cuda")
		l.validate(ctx)
	}})
	disp.Consume()
	settle(t, disp, func() bool { return l.validated })
	if r := l.request(); !strings.Contains(r.Config, "device: cuda") {
		t.Errorf("request config lacks the device:\n%s", r.Config)
	}
	// Pretraining runs on the CPU: no device to choose.
	disp.Dispatch(app.Dispatch{Source: l, Function: func(ctx app.Context) {
		l.yaml = yamlSet(l.yaml, "experiment", "ssl_training", "dino")
	}})
	disp.Consume()
	if strings.Contains(htmlOf(l), `id="l-device"`) {
		t.Error("a pretraining run offers the device")
	}
}
