package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/jobs/jobstest"
	"github.com/sslens/sslens/backend/scoring"
)

func TestScoreCommand(t *testing.T) {
	run, dataDir := trainedRun(t)
	files := t.TempDir()
	lens, nonLens := filepath.Join(dataDir, "lenses", "0.npy"), filepath.Join(dataDir, "nonlenses", "12.npy")
	corrupt := filepath.Join(files, "corrupt.npy")
	if err := os.WriteFile(corrupt, []byte("\x93NUMPY garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	notImage := filepath.Join(files, "notes.txt")
	os.WriteFile(notImage, []byte("hello"), 0o644)
	small := filepath.Join(files, "small.png")
	f, err := os.Create(small)
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, image.NewRGBA(image.Rect(0, 0, 16, 16))) // smaller than the 32 px crop
	f.Close()
	missing := filepath.Join(files, "missing.fits")
	args := []string{"--checkpoint", run, lens, corrupt, nonLens, notImage, missing, small, filepath.Join(dataDir, "lenses")}

	stdout, stderr, err := runCmd(t, context.Background(), "score", runScore, args...)
	if err == nil || err.Error() != "4 of 29 files could not be scored" {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{corrupt + ": corrupt", notImage + ": unsupported format", missing + ": open: no such file",
		small + ": smaller than the crop"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 26 || !strings.HasPrefix(lines[0], "P(lens)") {
		t.Fatalf("table of %d lines:\n%s", len(lines), stdout)
	}
	prev := 2.0
	for _, ln := range lines[1:] {
		p, err := strconv.ParseFloat(strings.Fields(ln)[0], 64)
		if err != nil || p > prev {
			t.Fatalf("table not sorted by P(lens), highest first:\n%s", stdout)
		}
		prev = p
	}
	if !strings.Contains(lines[1], "lens") || !strings.HasSuffix(lines[len(lines)-1], nonLens) {
		t.Errorf("the non-lens should score lowest:\n%s", stdout)
	}

	stdout, _, _ = runCmd(t, context.Background(), "score", runScore, append([]string{"--json"}, args...)...)
	var out struct {
		Scores   []score
		Failures []scoreFailure
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Scores) != 25 || len(out.Failures) != 4 || out.Failures[0].File != corrupt || !out.Scores[0].Lens {
		t.Errorf("json: %d scores, failures %+v", len(out.Scores), out.Failures)
	}

	stdout, _, err = runCmd(t, context.Background(), "score", runScore, "--csv", "--checkpoint", run, lens, nonLens)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != "file,lens_prob,lens" || rows[1][0] != lens || rows[1][2] != "true" {
		t.Errorf("csv %q (%v)", rows, err)
	}
}

func TestScoreUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no files", []string{"--checkpoint", "c"}, "at least one FILE"},
		{"no checkpoint", []string{"a.npy"}, "want --checkpoint C"},
		{"two formats", []string{"--checkpoint", "c", "--json", "--csv", "a.npy"}, "exclude each other"},
		{"threshold", []string{"--checkpoint", "c", "--threshold", "2", "a.npy"}, "--threshold 2 is not within [0, 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, context.Background(), "score", runScore, tc.args...)
			if err != errUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("err = %v, stderr %q; want usage naming %q", err, stderr, tc.want)
			}
		})
	}
}

// TestScoreStream: --out scores the same files as the table does, with
// the same P(lens), writes the ranking, refuses to overwrite, and two
// shards merged give the single run's ranking.
func TestScoreStream(t *testing.T) {
	run, dataDir := trainedRun(t)
	out := filepath.Join(t.TempDir(), "all")
	stdout, _, err := runCmd(t, context.Background(), "score", runScore, "--checkpoint", run, "--out", out, "--batch", "7", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, " 0 unreadable") || !strings.Contains(stdout, filepath.Join(out, "ranked.csv")) {
		t.Errorf("stdout %q", stdout)
	}
	ranked := readCSV(t, filepath.Join(out, "ranked.csv"))
	table, _, err := runCmd(t, context.Background(), "score", runScore, "--csv", "--checkpoint", run, filepath.Join(dataDir, "lenses"), filepath.Join(dataDir, "nonlenses"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	rows, _ := csv.NewReader(strings.NewReader(table)).ReadAll()
	for _, r := range rows[1:] {
		want[r[0]], _ = strconv.ParseFloat(r[1], 64)
	}
	if len(ranked)-1 != len(want) {
		t.Fatalf("%d ranked, the table scored %d", len(ranked)-1, len(want))
	}
	for _, r := range ranked[1:] {
		p, _ := strconv.ParseFloat(r[2], 64)
		if w, ok := want[r[1]]; !ok || math.Abs(p-w) > 1e-6 {
			t.Errorf("%s: %g streamed, %g in the table", r[1], p, w)
		}
	}
	if _, _, err := runCmd(t, context.Background(), "score", runScore, "--checkpoint", run, "--out", out, dataDir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("scoring into a used folder: %v", err)
	}
	var shards []string
	for _, s := range []string{"1/2", "2/2"} {
		dir := filepath.Join(t.TempDir(), "shard")
		if _, _, err := runCmd(t, context.Background(), "score", runScore, "--checkpoint", run, "--out", dir, "--shard", s, dataDir); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, dir)
	}
	merged := filepath.Join(t.TempDir(), "merged.csv")
	e, outBuf, _ := fakeEnv()
	if err := runScoreMerge(newFlagSet(commands["score"], outBuf), append([]string{"--out", merged}, shards...), e); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(out, "ranked.csv"))
	b, _ := os.ReadFile(merged)
	if string(a) != string(b) {
		t.Error("the merged shards' ranking differs from the single run's")
	}
	for _, bad := range [][]string{{"--out", out, "--shard", "3/2", dataDir}, {"--shard", "1/2", dataDir}} {
		if _, _, err := runCmd(t, context.Background(), "score", runScore, append([]string{"--checkpoint", run}, bad...)...); err == nil {
			t.Errorf("score %v passed", bad)
		}
	}
}

// With --shards N --executor slurm the cutouts are scored by N Slurm jobs
// whose rankings merge into the one a single run writes; the progress
// file sums the shards; running again after a shard was lost resubmits
// that shard alone, which resumes from its scores.csv. Needs a Slurm
// cluster (backend/jobs/slurm/single-node.sh).
func TestScoreShardsOnSlurm(t *testing.T) {
	jobstest.NeedSlurm(t)
	exe := buildSSLens(t)
	run, dataDir := trainedRun(t)
	single := filepath.Join(t.TempDir(), "single")
	if b, err := exec.Command(exe, "score", "--checkpoint", run, "--out", single, dataDir).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	out := filepath.Join(t.TempDir(), "sharded")
	score := func() string {
		t.Helper()
		b, err := exec.Command(exe, "score", "--checkpoint", run, "--out", out, "--shards", "3", "--executor", "slurm", "--batch", "5", dataDir).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		return string(b)
	}
	sameRanking := func() {
		t.Helper()
		want := map[string]string{}
		for _, r := range readCSV(t, filepath.Join(single, "ranked.csv"))[1:] {
			want[r[1]] = r[2]
		}
		got := readCSV(t, filepath.Join(out, "ranked.csv"))[1:]
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%d ranked by the shards, %d by one run", len(got), len(want))
		}
		last := 2.0
		for i, r := range got {
			p, _ := strconv.ParseFloat(r[2], 64)
			w, _ := strconv.ParseFloat(want[r[1]], 64)
			if r[0] != strconv.Itoa(i+1) || math.Abs(p-w) > 1e-6 || p > last {
				t.Errorf("row %d: %q, want P(lens) %g in order", i+1, r, w)
			}
			last = p
		}
		if _, err := os.Stat(filepath.Join(out, "ranked.fits")); err != nil {
			t.Error(err)
		}
		p, err := scoring.ReadProgress(out)
		if err != nil || !p.Finished || p.Done() != int64(len(got)) || p.Total != int64(len(got)) {
			t.Errorf("progress %+v (%v), want %d of %d finished", p, err, len(got), len(got))
		}
	}
	text := score()
	for _, want := range []string{"shard 1/3: submitted as slurm job ", "shard 3/3: submitted as slurm job ", "shard 2/3: finished on Slurm", "cutouts done by 3 Slurm jobs"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	sameRanking()

	shard2 := filepath.Join(out, "shards", "2")
	for _, name := range []string{scoring.ProgressFile, scoring.RankedFile} {
		if err := os.Remove(filepath.Join(shard2, name)); err != nil {
			t.Fatal(err)
		}
	}
	text = score()
	if !strings.Contains(text, "shard 2/3: submitted") || strings.Contains(text, "shard 1/3: submitted") || strings.Contains(text, "shard 3/3: submitted") {
		t.Errorf("after losing shard 2, the run again:\n%s", text)
	}
	if log, _ := os.ReadFile(filepath.Join(shard2, "stdout.log")); !strings.Contains(string(log), "from an earlier session") {
		t.Errorf("shard 2 did not resume:\n%s", log)
	}
	sameRanking()

	if _, _, err := runCmd(t, context.Background(), "score", runScore, "--checkpoint", run, "--out", t.TempDir(), "--shards", "3", dataDir); err == nil || !strings.Contains(err.Error(), "give --executor slurm") {
		t.Errorf("--shards without slurm: %v", err)
	}
}
