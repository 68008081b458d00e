package ui

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

func f64(v float64) *float64 { return &v }

func TestRunModelApply(t *testing.T) {
	m := &runModel{run: shared.Run{ID: 7, State: shared.StateQueued}}
	step := func(seq, s int, loss float64) shared.Event {
		return shared.Event{Type: shared.EventMetric, Run: 7, Seq: int64(seq + 10),
			Metric: &shared.Metric{Seq: seq, Kind: shared.MetricStep, Step: s, Loss: f64(loss), LR: f64(1e-4), ImagesPerSec: f64(50)}}
	}
	m.apply([]shared.Event{
		{Type: shared.EventState, Run: 7, Seq: 1, State: &shared.StateChange{State: shared.StateRunning}},
		step(1, 1, 0.9), step(2, 2, 0.8), step(3, 3, 0.7),
		{Type: shared.EventMetric, Run: 7, Seq: 14, Metric: &shared.Metric{Seq: 4, Kind: shared.MetricEval, Split: "val", Step: 3, Accuracy: f64(0.6), AUC: f64(0.7)}},
		{Type: shared.EventMetric, Run: 7, Seq: 15, Metric: &shared.Metric{Seq: 5, Kind: shared.MetricLog, Message: "checkpoint saved"}},
		{Type: shared.EventProgress, Run: 7, Seq: 16, Progress: &shared.Progress{Done: 3, Total: 10, Unit: "steps", Fraction: 0.3}},
		{Type: shared.EventLog, Run: 7, Seq: 17, Log: &shared.LogLine{Stream: "stderr", Text: "warning: slow"}},
		{Type: shared.EventState, Run: 8, Seq: 18, State: &shared.StateChange{State: shared.StateFailed}}, // another run
	})
	if m.run.State != shared.StateRunning || m.run.Progress == nil || m.run.Progress.Done != 3 || m.run.LastSeq != 17 {
		t.Fatalf("run = %+v", m.run)
	}
	if want := []logEntry{{"metric", "log: checkpoint saved"}, {"stderr", "warning: slow"}}; !reflect.DeepEqual(m.logs, want) {
		t.Errorf("logs = %v, want %v", m.logs, want)
	}
	c := m.charts()
	if len(c.Loss) != 1 || len(c.Loss[0].Points) != 3 || c.Loss[0].Points[2].Y != 0.7 {
		t.Errorf("loss series = %+v", c.Loss)
	}
	if len(c.Accuracy) != 2 || c.Accuracy[0].Points[0].Y != 0.6 || c.Accuracy[1].Name != "AUC" {
		t.Errorf("accuracy series = %+v", c.Accuracy)
	}
	if len(c.LR) != 1 || len(c.Speed) != 1 {
		t.Errorf("lr %+v speed %+v", c.LR, c.Speed)
	}

	// A resume rewrites the records after its checkpoint (seq 3 on): the
	// old step 3 and everything after it go.
	m.apply([]shared.Event{step(3, 3, 0.65), step(4, 4, 0.6)})
	var seqs []int
	for _, r := range m.metrics {
		seqs = append(seqs, r.Seq)
	}
	if !reflect.DeepEqual(seqs, []int{1, 2, 3, 4}) {
		t.Errorf("metric seqs after resume = %v, want [1 2 3 4]", seqs)
	}
	if got := m.charts().Loss[0].Points; len(got) != 4 || got[2].Y != 0.65 {
		t.Errorf("loss after resume = %v", got)
	}

	m.apply([]shared.Event{{Type: shared.EventState, Run: 7, Seq: 30, State: &shared.StateChange{State: shared.StateFailed, Error: "out of memory"}}})
	if m.run.State != shared.StateFailed || m.run.Error != "out of memory" {
		t.Errorf("after failure: %+v", m.run)
	}

	// A run read before the last events keeps what the events said; a
	// newer one wins.
	m.merge(shared.Run{ID: 7, State: shared.StateRunning, LastSeq: 20, Resumable: true})
	if m.run.State != shared.StateFailed || !m.run.Resumable || m.run.LastSeq != 30 {
		t.Errorf("stale read: %+v", m.run)
	}
	m.merge(shared.Run{ID: 7, State: shared.StateQueued, LastSeq: 31})
	if m.run.State != shared.StateQueued || m.run.Error != "" {
		t.Errorf("fresh read: %+v", m.run)
	}
}

// A log record and the line the CLI printed for it show once, whichever
// arrives first; a process's own repeated lines all stay.
func TestLogTailOnceEach(t *testing.T) {
	m := &runModel{run: shared.Run{ID: 1}}
	line := func(seq int, text string) shared.Event {
		return shared.Event{Type: shared.EventLog, Run: 1, Seq: int64(seq), Log: &shared.LogLine{Stream: "stdout", Text: text}}
	}
	record := func(seq int, kind shared.MetricKind, text string) shared.Event {
		return shared.Event{Type: shared.EventMetric, Run: 1, Seq: int64(seq), Metric: &shared.Metric{Seq: seq, Kind: kind, Message: text}}
	}
	m.apply([]shared.Event{
		record(1, shared.MetricLog, "saved checkpoints/last after epoch 1"), line(2, "saved checkpoints/last after epoch 1"),
		line(3, "warning: config: x ignored"), record(4, shared.MetricWarning, "config: x ignored"),
		line(5, "tick"), line(6, "tick"),
	})
	want := []logEntry{{"metric", "log: saved checkpoints/last after epoch 1"}, {"stdout", "warning: config: x ignored"}, {"stdout", "tick"}, {"stdout", "tick"}}
	if !reflect.DeepEqual(m.logs, want) {
		t.Errorf("logs %q, want %q", m.logs, want)
	}
}

// Without progress events the bar follows the latest step record, and the
// checkpoints the log records say were saved are listed before the run
// registers them.
func TestRunProgressAndSavedCheckpoints(t *testing.T) {
	m := &runModel{run: shared.Run{ID: 1}}
	m.apply([]shared.Event{
		{Type: shared.EventMetric, Run: 1, Seq: 1, Metric: &shared.Metric{Seq: 1, Kind: shared.MetricStep, Epoch: 1, TotalEpochs: 3, Step: 4, TotalSteps: 12}},
		{Type: shared.EventMetric, Run: 1, Seq: 2, Metric: &shared.Metric{Seq: 2, Kind: shared.MetricLog, Epoch: 1, Checkpoint: "checkpoints/last", Message: "saved"}},
		{Type: shared.EventMetric, Run: 1, Seq: 3, Metric: &shared.Metric{Seq: 3, Kind: shared.MetricLog, Epoch: 2, Checkpoint: "checkpoints/last", Message: "saved"}},
	})
	if p := m.progress(); p == nil || p.Done != 4 || p.Total != 12 || p.TotalEpochs != 3 {
		t.Errorf("progress %+v", p)
	}
	if s := m.savedCheckpoints(); len(s) != 1 || s[0].Epoch != 2 {
		t.Errorf("saved %+v", s)
	}
	if x := m.charts().X; x.Min != 0 || x.Max != 12 {
		t.Errorf("the charts' step axis %+v, want 0 to the run's 12 steps", x)
	}
}

func TestLogTailBounded(t *testing.T) {
	m := &runModel{run: shared.Run{ID: 1}}
	for i := 0; i < maxLogLines+50; i++ {
		m.apply([]shared.Event{{Type: shared.EventLog, Run: 1, Seq: int64(i + 1), Log: &shared.LogLine{Stream: "stdout", Text: strings.Repeat("x", i%3)}}})
	}
	if len(m.logs) != maxLogLines {
		t.Errorf("kept %d lines, want %d", len(m.logs), maxLogLines)
	}
}

func TestApplyToRuns(t *testing.T) {
	runs := []shared.Run{{ID: 1, State: shared.StateQueued}, {ID: 2, State: shared.StateRunning}}
	unknown := applyToRuns(runs, []shared.Event{
		{Type: shared.EventState, Run: 1, Seq: 3, State: &shared.StateChange{State: shared.StateRunning}},
		{Type: shared.EventProgress, Run: 2, Seq: 9, Progress: &shared.Progress{Done: 5, Total: 10, Fraction: 0.5}},
		{Type: shared.EventLog, Run: 5, Seq: 1, Log: &shared.LogLine{Text: "x"}},
	})
	if unknown {
		t.Error("a log line of an unlisted run asked for a reload")
	}
	if runs[0].State != shared.StateRunning || runs[0].LastSeq != 3 || runs[1].Progress.Done != 5 {
		t.Errorf("runs = %+v", runs)
	}
	if !applyToRuns(runs, []shared.Event{{Type: shared.EventState, Run: 5, Seq: 1, State: &shared.StateChange{State: shared.StateQueued}}}) {
		t.Error("a new run's state did not ask for a reload")
	}
}

func TestYAMLEdit(t *testing.T) {
	const cfg = `# comment
experiment:
  seed: 0
  ssl_training: supervised   # the method
network:
    backbone: vit_nano
train args:
  batch_size: 64

  num_epochs: 30
finetune:
  labels: "300"
`
	tests := []struct {
		section, key, value string
		want                string // the line that must appear
		wantGet             string
	}{
		{"experiment", "ssl_training", "dino", "  ssl_training: dino", "dino"},
		{"network", "backbone", "vit_small", "    backbone: vit_small", "vit_small"},
		{"train args", "num_epochs", "2", "  num_epochs: 2", "2"},
		{"finetune", "labels", `"all"`, `  labels: "all"`, "all"},
		{"network", "drop_path", "0.1", "    drop_path: 0.1", "0.1"},
		{"optimizer", "init_lr", "0.001", "optimizer:\n  init_lr: 0.001", "0.001"},
	}
	for _, tt := range tests {
		got := yamlSet(cfg, tt.section, tt.key, tt.value)
		if !strings.Contains(got, tt.want+"\n") {
			t.Errorf("set %s.%s: no line %q in\n%s", tt.section, tt.key, tt.want, got)
		}
		if v, ok := yamlGet(got, tt.section, tt.key); !ok || v != tt.wantGet {
			t.Errorf("get %s.%s after set = %q, %v; want %q", tt.section, tt.key, v, ok, tt.wantGet)
		}
		// Nothing else changes.
		if n := strings.Count(got, "\n") - strings.Count(cfg, "\n"); n < 0 || n > 2 {
			t.Errorf("set %s.%s changed the line count by %d", tt.section, tt.key, n)
		}
	}
	if v, _ := yamlGet(cfg, "experiment", "ssl_training"); v != "supervised" {
		t.Errorf("trailing comment kept: %q", v)
	}
	if _, ok := yamlGet(cfg, "experiment", "backbone"); ok {
		t.Error("found network.backbone under experiment")
	}
	if v, _ := yamlGet(cfg, "train args", "batch_size"); v != "64" {
		t.Errorf("batch_size = %q", v)
	}
}

func TestBrowseQuery(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "/datasets"},
		{"dataset=2&split=test&class=lenses&page=3", "/datasets?class=lenses&dataset=2&page=3&split=test"},
		{"sort=theta_e&order=desc", "/datasets?order=desc&sort=theta_e"},
		{"split=bogus&class=cats&page=-4", "/datasets"}, // unknown values dropped
	}
	for _, tt := range tests {
		v, _ := url.ParseQuery(tt.in)
		q := parseBrowse(v)
		if q.PerPage != perPage || q.Page < 1 {
			t.Errorf("%q: per page %d page %d", tt.in, q.PerPage, q.Page)
		}
		if got := q.URL(); got != tt.want {
			t.Errorf("%q: URL %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ total, per, want int }{{0, 48, 1}, {48, 48, 1}, {49, 48, 2}, {303, 48, 7}} {
		if got := pages(tt.total, tt.per); got != tt.want {
			t.Errorf("pages(%d, %d) = %d, want %d", tt.total, tt.per, got, tt.want)
		}
	}
}

func TestParseImagePath(t *testing.T) {
	tests := []struct {
		path string
		ds   int64
		id   string
		ok   bool
	}{
		{"/datasets/3/images/lenses/12.npy", 3, "lenses/12.npy", true},
		{"/datasets/3/images/nonlenses/a b.npy", 3, "nonlenses/a b.npy", true},
		{"/datasets/0/images/lenses/1.npy", 0, "", false},
		{"/datasets/x/images/lenses/1.npy", 0, "", false},
		{"/datasets/3/images/lenses", 0, "", false},
		{"/datasets/3/images/a/b/c", 0, "", false},
		{"/runs/3", 0, "", false},
	}
	for _, tt := range tests {
		ds, id, ok := parseImagePath(tt.path)
		if ds != tt.ds || id != tt.id || ok != tt.ok {
			t.Errorf("%s: %d %q %v, want %d %q %v", tt.path, ds, id, ok, tt.ds, tt.id, tt.ok)
		}
	}
	if got := imageHref(3, "nonlenses/a b.npy"); got != "/datasets/3/images/nonlenses/a%20b.npy" {
		t.Errorf("imageHref = %q", got)
	}
}

func TestNext(t *testing.T) {
	tests := map[string]string{
		"":                      "/",
		"/runs/3":               "/runs/3",
		"/datasets?split=test":  "/datasets?split=test",
		"//evil.example/x":      "/",
		"https://evil.example/": "/",
		`/\evil.example`:        "/",
		"/login?next=/":         "/",
	}
	for in, want := range tests {
		if got := next(in); got != want {
			t.Errorf("next(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResultFilter(t *testing.T) {
	// Two methods, two backbones, three subsets and the full train split.
	var refRows []shared.ReferenceRow
	for _, m := range []string{"supervised", "dino"} {
		for _, b := range []string{"vit_small", "vit_base"} {
			for _, n := range []int{300, 600, 1200, 3863} {
				refRows = append(refRows, shared.ReferenceRow{Method: m, Backbone: b, Labels: n})
			}
		}
	}
	tests := []struct {
		f    resultFilter
		want int // published rows kept
	}{
		{resultFilter{}, len(refRows)},
		{resultFilter{Backbone: "vit_small"}, len(refRows) / 2},
		{resultFilter{Backbone: "vit_nano"}, 0},
		{resultFilter{Labels: "300"}, 4},
		{resultFilter{Labels: "all"}, 4},
		{resultFilter{Backbone: "vit_base", Labels: "1200"}, 2},
	}
	for _, tt := range tests {
		n := 0
		for _, r := range refRows {
			if tt.f.keepRef(r) {
				n++
			}
		}
		if n != tt.want {
			t.Errorf("%+v keeps %d published rows, want %d", tt.f, n, tt.want)
		}
	}
	cells := []struct {
		f                resultFilter
		backbone, labels string
		want             bool
	}{
		{resultFilter{}, "vit_nano", "300", true},
		{resultFilter{Backbone: "vit_nano"}, "vit_tiny", "300", false},
		{resultFilter{Labels: "all"}, "vit_nano", "all", true},
		{resultFilter{Backbone: "vit_nano", Labels: "600"}, "vit_nano", "300", false},
	}
	for _, tt := range cells {
		if got := tt.f.keepCell(tt.backbone, tt.labels); got != tt.want {
			t.Errorf("%+v keeps %s %s: %v, want %v", tt.f, tt.backbone, tt.labels, got, tt.want)
		}
	}
	if got := (resultFilter{Backbone: "vit_tiny", Labels: "all"}).url(); got != "/results?backbone=vit_tiny&labels=all" {
		t.Errorf("url = %q", got)
	}
}

func TestFormat(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct{ got, want string }{
		{percent(0.9342), "93.4%"},
		{interval(&shared.Interval{Lo: 0.921, Hi: 0.946}, true), "92.1–94.6"},
		{interval(&shared.Interval{Lo: 0.9712, Hi: 0.9855}, false), "0.971–0.986"},
		{interval(nil, true), ""},
		{byteSize(999), "999 B"},
		{plural(1, "file"), "1 file"},
		{plural(0, "problem"), "0 problems"},
		{byteSize(1_234_567), "1.2 MB"},
		{ago(now.Add(-5*time.Second), now), "just now"},
		{ago(now.Add(-5*time.Minute), now), "5 min ago"},
		{ago(now.Add(-3*time.Hour), now), "3 h ago"},
		{duration(3*time.Minute + 5*time.Second), "3m 05s"},
		{duration(62 * time.Minute), "1h 02m"},
		{uploadSummary(shared.UploadResponse{Accepted: 3, Rejected: 1, Scoring: shared.ScoringDone}), "3 files accepted, 1 rejected. Scored."},
		{string(kindOf("dino") + kindOf("supervised")), "pretrainfinetune"},
		{loginError(&api.Error{Status: 401}), "Wrong user name or password."},
		{loginError(&api.Error{Status: 429}), "Too many failed attempts; wait a few minutes and try again."},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: %q, want %q", i, tt.got, tt.want)
		}
	}
}

// The run page offers Cancel to the run's owner and to admins, and to no
// other astronomer.
func TestRunPageCancelForOwner(t *testing.T) {
	run := shared.Run{ID: 3, Kind: shared.KindScore, Name: "score", State: shared.StateQueued, CreatedBy: "vera"}
	for _, tt := range []struct {
		user string
		role shared.Role
		want bool
	}{{"vera", shared.RoleAstronomer, true}, {"carl", shared.RoleAstronomer, false}, {"ada", shared.RoleAdmin, true}} {
		v := &RunView{page: page{sess: &shared.Session{User: shared.User{Name: tt.user, Role: tt.role}}, mounted: true, state: stateReady}, id: 3, m: &runModel{run: run}}
		if got := strings.Contains(htmlOf(v), `id="cancel-run"`); got != tt.want {
			t.Errorf("%s (%s): cancel offered %v, want %v", tt.user, tt.role, got, tt.want)
		}
	}
}

// The score table's rows: the show filter, then the order.
func TestScoreVisible(t *testing.T) {
	cons := func(mean float64, graders int, class string) *shared.Consensus {
		return &shared.Consensus{Mean: mean, Graders: graders, Class: class}
	}
	s := &Score{uploads: []shared.Upload{ // the model's ranking
		{ID: 1},
		{ID: 2, MyGrade: "C", Consensus: cons(1, 2, "C")},
		{ID: 3, MyGrade: "A", Consensus: cons(2.5, 2, "A")},
		{ID: 4, MyGrade: "B", Consensus: cons(2.5, 3, "A")},
		{ID: 5, MyGrade: "B", Consensus: cons(2, 1, "B")},
	}}
	ids := func() []int64 {
		var out []int64
		for _, u := range s.visible() {
			out = append(out, u.ID)
		}
		return out
	}
	for _, tc := range []struct {
		show, order string
		want        []int64
	}{
		{"", "", []int64{1, 2, 3, 4, 5}},
		{"ungraded", "", []int64{1}},
		{"graded", "", []int64{2, 3, 4, 5}},
		{"lenses", "", []int64{3, 4, 5}},
		{"", "consensus", []int64{4, 3, 5, 2, 1}}, // mean grade, then graders; none last
		{"lenses", "consensus", []int64{4, 3, 5}},
	} {
		s.show, s.order = tc.show, tc.order
		if got := ids(); !slices.Equal(got, tc.want) {
			t.Errorf("show %q order %q: %v, want %v", tc.show, tc.order, got, tc.want)
		}
	}
	if s.uploads[0].ID != 1 || s.uploads[3].ID != 4 {
		t.Error("ordering changed the ranking it was given")
	}
}

// A cluster job's state arrives by event and shows among the run's facts;
// an older read of the run does not undo it.
func TestClusterState(t *testing.T) {
	m := &runModel{run: shared.Run{ID: 3, Kind: shared.KindPretrain, Host: "slurm", LastSeq: 4}}
	m.apply([]shared.Event{{Type: shared.EventCluster, Run: 3, Seq: 5, Cluster: &shared.ClusterJob{Job: "12", State: "pending", Reason: "Priority", Partition: "gpu"}}})
	m.merge(shared.Run{ID: 3, Kind: shared.KindPretrain, Host: "slurm", LastSeq: 4})
	if got := runFacts(m.run, time.Now()); !strings.Contains(got, "on slurm · Slurm job 12 pending (Priority) in partition gpu") {
		t.Errorf("facts %q", got)
	}
	m.apply([]shared.Event{{Type: shared.EventCluster, Run: 3, Seq: 6, Cluster: &shared.ClusterJob{Job: "12", State: "running", Partition: "gpu", Node: "n07"}}})
	if got := runFacts(m.run, time.Now()); !strings.Contains(got, "Slurm job 12 running on node n07 in partition gpu") {
		t.Errorf("facts %q", got)
	}
}

// A run on a GPU says which among its facts.
func TestRunFactsDevice(t *testing.T) {
	r := shared.Run{Kind: shared.KindFinetune, Host: "node1", Device: "cuda:1"}
	if got := runFacts(r, time.Now()); !strings.Contains(got, "on node1 · GPU cuda:1") {
		t.Errorf("facts %q", got)
	}
	r.Device = ""
	if got := runFacts(r, time.Now()); strings.Contains(got, "GPU") {
		t.Errorf("facts of a CPU run %q", got)
	}
}

// Events replayed after the run was read (a subscription starting from
// the beginning) do not show a finished run as it was: its state stays
// succeeded while the older running event arrives, and the metrics and
// logs the read does not carry are still taken.
func TestReplayedEventsDoNotRewindState(t *testing.T) {
	m := &runModel{run: shared.Run{ID: 7, Kind: shared.KindImportData, State: shared.StateSucceeded, LastSeq: 9}}
	m.apply([]shared.Event{
		{Type: shared.EventState, Run: 7, Seq: 2, State: &shared.StateChange{State: shared.StateRunning}},
		{Type: shared.EventLog, Run: 7, Seq: 3, Log: &shared.LogLine{Stream: "stderr", Text: "3 files read"}},
	})
	if m.run.State != shared.StateSucceeded || len(m.logs) != 1 {
		t.Errorf("after a replayed running event: state %s, %d log lines", m.run.State, len(m.logs))
	}
	m.apply([]shared.Event{{Type: shared.EventState, Run: 7, Seq: 10, State: &shared.StateChange{State: shared.StateRunning}}})
	if m.run.State != shared.StateRunning {
		t.Errorf("a newer event (a resume) left the state %s", m.run.State)
	}
}
