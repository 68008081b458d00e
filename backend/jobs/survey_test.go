package jobs

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/scoring"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// surveyCutouts writes n cutouts of 3x20x20 (each a different level)
// under dataDir/rel, and an unreadable file among them; it returns the
// readable ones' paths.
func surveyCutouts(t *testing.T, dataDir, rel string, n int) []string {
	t.Helper()
	dir := filepath.Join(dataDir, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for k := range n {
		im := data.NewImage(3, 20, 20)
		for i := range im.Pix {
			im.Pix[i] = float32(k*400+i) / 1000
		}
		p := filepath.Join(dir, fmt.Sprintf("c%03d.npy", k))
		if err := data.WriteNPY(p, im); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.npy"), []byte("not an array"), 0o644); err != nil {
		t.Fatal(err)
	}
	return paths
}

func readRows(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows[1:]
}

func TestCheckSurvey(t *testing.T) {
	dir := t.TempDir()
	surveyCutouts(t, dir, "hsc/a", 1)
	os.WriteFile(filepath.Join(dir, "hsc", "list.txt"), []byte("a/c000.npy\n"), 0o644)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	ok := shared.SurveyRequest{Paths: []string{"hsc", "hsc/a/c000.npy", "hsc/*/*.npy", "*.npy"}, Lists: []string{"hsc/list.txt"}}
	if err := CheckSurvey(dir, ok, false); err != nil {
		t.Errorf("a valid request: %v", err)
	}
	if err := CheckSurvey(dir, shared.SurveyRequest{Paths: []string{"hsc"}, Shards: 8}, true); err != nil {
		t.Errorf("8 shards on a cluster: %v", err)
	}
	for _, tc := range []struct {
		r            shared.SurveyRequest
		cluster      bool
		key, message string
	}{
		{shared.SurveyRequest{}, false, "survey.paths", "give a folder"},
		{shared.SurveyRequest{Paths: []string{" "}}, false, "survey.paths", "an empty path"},
		{shared.SurveyRequest{Paths: []string{"/etc"}}, false, "survey.paths", "absolute path"},
		{shared.SurveyRequest{Paths: []string{"hsc/../.."}}, false, "survey.paths", `contains ".."`},
		{shared.SurveyRequest{Paths: []string{"hsc/b"}}, false, "survey.paths", "no hsc/b in the data folder"},
		{shared.SurveyRequest{Paths: []string{"out"}}, false, "survey.paths", "leads outside the data folder"},
		{shared.SurveyRequest{Paths: []string{"out/*.npy"}}, false, "survey.paths", "leads outside the data folder"},
		{shared.SurveyRequest{Paths: []string{"hsc/b/*.npy"}}, false, "survey.paths", "no folder hsc/b in the data folder"},
		{shared.SurveyRequest{Paths: []string{"hsc/a/c000.npy/*.fits"}}, false, "survey.paths", "is not a folder"},
		{shared.SurveyRequest{Paths: []string{"hsc/[a"}}, false, "survey.paths", "syntax error in pattern"},
		{shared.SurveyRequest{Lists: []string{"hsc/a"}}, false, "survey.lists", "hsc/a is not a file"},
		{shared.SurveyRequest{Lists: []string{"hsc/none.txt"}}, false, "survey.lists", "no hsc/none.txt"},
		{shared.SurveyRequest{Paths: []string{"hsc"}, Shards: 2}, false, "survey.shards", "this server runs its jobs here"},
		{shared.SurveyRequest{Paths: []string{"hsc"}, Shards: MaxShards + 1}, true, "survey.shards", "want 1 to 512"},
		{shared.SurveyRequest{Paths: []string{"hsc"}, Shards: -1}, true, "survey.shards", "want 1 to 512"},
	} {
		err := CheckSurvey(dir, tc.r, tc.cluster)
		var fe shared.FieldError
		if err == nil || !strings.Contains(err.Error(), tc.message) || !errorsAs(err, &fe) || fe.Key != tc.key {
			t.Errorf("%+v: %v, want %s: %q", tc.r, err, tc.key, tc.message)
		}
	}
}

// errorsAs finds the first FieldError in a joined error.
func errorsAs(err error, fe *shared.FieldError) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if errorsAs(e, fe) {
				return true
			}
		}
		return false
	}
	v, ok := err.(shared.FieldError)
	*fe = v
	return ok
}

// TestSurveyJob scores a folder and a list (with a path relative to the
// list) through the queue: the run's progress counts files, the ranking
// holds every readable cutout once and scores.csv the broken one's
// error. A second survey, cancelled midway and resumed, ends with each
// cutout scored once.
func TestSurveyJob(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	c, _, _ := scoreable(t, f)
	paths := surveyCutouts(t, f.dir, "survey/a", 6)
	extra := surveyCutouts(t, f.dir, "survey/b", 2)
	if err := os.WriteFile(filepath.Join(f.dir, "survey", "more.txt"), []byte("# extra\nb/c001.npy\n"+extra[0]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindSurvey, Name: "survey"},
		Params: Params{Checkpoint: c, Cutouts: &shared.SurveyRequest{Paths: []string{"survey/a"}, Lists: []string{"survey/more.txt"}}}})
	if err != nil {
		t.Fatal(err)
	}
	run := f.wait(t, j.ID, shared.StateSucceeded)
	ck, _ := f.st.Checkpoint(ctx, c)
	want := []string{"score", "--checkpoint", filepath.Join(f.dir, ck.Path), "--out", filepath.Join(f.dir, run.Dir), "--resume",
		"--list", filepath.Join(f.dir, "survey", "more.txt"), filepath.Join(f.dir, "survey", "a")}
	if !slices.Equal(run.Args, want) {
		t.Errorf("args %q, want %q", run.Args, want)
	}
	if p := run.Progress; p == nil || p.Unit != "files" || p.Done != 9 || p.Total != 9 || p.Fraction != 1 {
		t.Errorf("progress %+v, want 9 of 9 files", p)
	}
	dir := filepath.Join(f.dir, run.Dir)
	var ranked []string
	for _, r := range readRows(t, filepath.Join(dir, scoring.RankedFile)) {
		ranked = append(ranked, r[1])
	}
	slices.Sort(ranked)
	wantRanked := append(append(slices.Clone(paths), extra[1]), extra[0])
	slices.Sort(wantRanked)
	if !slices.Equal(ranked, wantRanked) {
		t.Errorf("ranked %q, want %q", ranked, wantRanked)
	}
	var broken []string
	for _, r := range readRows(t, filepath.Join(dir, scoring.ScoresFile)) {
		if r[4] != "" {
			broken = append(broken, filepath.Base(r[0]))
		}
	}
	if !slices.Equal(broken, []string{"broken.npy"}) {
		t.Errorf("unreadable %q, want broken.npy", broken)
	}

	// Cancelled midway and resumed.
	many := surveyCutouts(t, f.dir, "survey/many", 80)
	j, err = f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindSurvey, Name: "many"},
		Params: Params{Checkpoint: c, Cutouts: &shared.SurveyRequest{Paths: []string{"survey/many"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r, err := f.st.Run(ctx, j.ID)
		if err == nil && r.Progress != nil && r.Progress.Done > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress in 30 s: %+v", r)
		}
	}
	if _, err := f.m.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	r := f.wait(t, j.ID, shared.StateCancelled)
	if !r.Resumable {
		t.Fatal("a cancelled survey is not resumable")
	}
	scored := len(readRows(t, filepath.Join(f.dir, r.Dir, scoring.ScoresFile)))
	if scored == 0 || scored >= len(many)+1 {
		t.Fatalf("%d of %d rows scored before the cancel: want some but not all", scored, len(many)+1)
	}
	if _, err := f.m.Resume(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	r = f.wait(t, j.ID, shared.StateSucceeded)
	rows := readRows(t, filepath.Join(f.dir, r.Dir, scoring.ScoresFile))
	seen := map[string]int{}
	for _, row := range rows {
		seen[row[0]]++
	}
	if len(rows) != len(many)+1 || len(seen) != len(rows) {
		t.Errorf("after resuming: %d rows for %d distinct files, want %d each once", len(rows), len(seen), len(many)+1)
	}
	if got := len(readRows(t, filepath.Join(f.dir, r.Dir, scoring.RankedFile))); got != len(many) {
		t.Errorf("%d ranked, want %d", got, len(many))
	}
}

// On Slurm a survey with shards runs the command that submits them, with
// the server's sbatch options; without shards, or locally, it scores in
// its own job, resuming what an earlier start left.
func TestSurveyArgs(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	c, _, _ := scoreable(t, f)
	ck, err := f.st.Checkpoint(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	slurm := New(f.st, &Slurm{Exe: "sslens", Options: []string{"--partition=debug"}, KindOptions: map[shared.RunKind][]string{shared.KindSurvey: {"--gres=gpu:1"}}}, f.rec, f.opt)
	j := store.Run{Run: shared.Run{ID: 99, Kind: shared.KindSurvey, Dir: "runs/99-survey"}}
	dir := filepath.Join(f.dir, j.Dir)
	head := []string{"score", "--checkpoint", filepath.Join(f.dir, ck.Path), "--out", dir}
	for _, tc := range []struct {
		m      *Manager
		shards int
		want   []string
	}{
		{slurm, 4, append(slices.Clone(head), "--shards", "4", "--executor", "slurm", "--slurm-option=--partition=debug", "--slurm-kind-option=score-survey=--gres=gpu:1",
			"--list", filepath.Join(f.dir, "l.txt"), filepath.Join(f.dir, "hsc"))},
		{slurm, 1, append(slices.Clone(head), "--resume", "--list", filepath.Join(f.dir, "l.txt"), filepath.Join(f.dir, "hsc"))},
		{f.m, 0, append(slices.Clone(head), "--resume", "--list", filepath.Join(f.dir, "l.txt"), filepath.Join(f.dir, "hsc"))},
	} {
		args, err := tc.m.prepare(ctx, j, Params{Checkpoint: c, Cutouts: &shared.SurveyRequest{Paths: []string{"hsc"}, Lists: []string{"l.txt"}, Shards: tc.shards}})
		if err != nil || !slices.Equal(args, tc.want) {
			t.Errorf("%d shards on %s: %q (%v), want %q", tc.shards, tc.m.ex.Host(), args, err, tc.want)
		}
	}
}

// TestSurveyOnGPU scores a survey on a GPU slot: the request's device cuda
// puts it in the GPU pool, which hands it --device cuda:0; a server
// without GPUs refuses it at submission.
func TestSurveyOnGPU(t *testing.T) {
	f := newFixture(t, Options{GPUs: 1})
	ctx := context.Background()
	c, _, _ := scoreable(t, f)
	surveyCutouts(t, f.dir, "survey/g", 3)
	params := Params{Checkpoint: c, Cutouts: &shared.SurveyRequest{Paths: []string{"survey/g"}, Device: "cuda"}}
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindSurvey, Name: "on a GPU"}, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	run := f.wait(t, j.ID, shared.StateSucceeded)
	if n := len(run.Args); n < 2 || run.Args[n-2] != "--device" || run.Args[n-1] != "cuda:0" {
		t.Errorf("args %q, want --device cuda:0 last", run.Args)
	}
	none := newFixture(t, Options{})
	if _, err := none.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindSurvey, Name: "no GPU"}, Params: params}); err == nil ||
		!strings.Contains(err.Error(), "no GPUs for jobs") {
		t.Errorf("a GPU survey on a server without GPUs: %v", err)
	}
}
