package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/sim"
)

// runSimulateCmd runs `sslens simulate ARGS...` and returns stdout and the error.
func runSimulateCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runSimulate(newFlagSet(commands["simulate"], &errOut), args, &out)
	return out.String(), err
}

func TestSimulateCommand(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "lenses", "999999.npy")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("x"), 0o644)
	cache := filepath.Join(dir, ".sslens-stats.json")
	os.WriteFile(cache, []byte("{}"), 0o644)
	keep := filepath.Join(dir, "notes.txt")
	os.WriteFile(keep, []byte("mine"), 0o644)
	preview := filepath.Join(t.TempDir(), "preview.png")
	args := []string{"--out", dir, "--counts", "small", "--size", "32", "--seed", "7", "--preview", preview}

	// A non-empty folder is refused without --force, before any work.
	if _, err := runSimulateCmd(t, args...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("non-empty --out without --force: err %v", err)
	}
	out, err := runSimulateCmd(t, append(args, "--force")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wrote 303 images (183 lenses, 120 non-lenses)", "centre 32x32 crops", "real data 0.1995 0.6668 1.2940", "preview: " + preview} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("--force left a stale image behind")
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Error("--force left the old dataset's statistics cache behind")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("--force removed a file the simulation does not own")
	}
	for _, name := range []string{"indices.pkl", "splits.json", "metadata.csv"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	if lenses, _ := os.ReadDir(filepath.Join(dir, "lenses")); len(lenses) != 183 {
		t.Errorf("%d lenses written, want 183", len(lenses))
	}
	f, err := os.Open(preview)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// 8 tiles a row, 32 px upscaled 3 times, 4 px apart; two rows with captions.
	if b := img.Bounds(); b.Dx() != 4+8*(96+4) || b.Dy() != 4+2*(96+15+4) {
		t.Errorf("preview is %dx%d", b.Dx(), b.Dy())
	}
}

func TestSimulateUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"simulate", "extra"}, 2, "usage: sslens simulate"},
		{[]string{"simulate", "--preset", "euclid"}, 1, `unknown survey preset "euclid"`},
		{[]string{"simulate", "--counts", "huge"}, 1, `unknown counts preset "huge"`},
		{[]string{"simulate", "--size", "4"}, 1, "stamp size 4 px"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		code := runMain(append(tc.args, "--out", t.TempDir()), &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut.String(), tc.code, tc.msg)
		}
	}
}

func TestSimulateReport(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "realism.md")
	out, err := runSimulateCmd(t, "--report-only", "--report", md, "--counts", "small", "--size", "32", "--report-every", "3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "report: "+md) || !strings.Contains(out, "101 images measured") || strings.Contains(out, "wrote") {
		t.Errorf("output:\n%s", out)
	}
	text, err := os.ReadFile(md)
	if err != nil || !strings.Contains(string(text), "# Simulator realism report") || !strings.Contains(string(text), "Survey hsc, seed 1, 32 px") {
		t.Errorf("report.md: %v\n%s", err, text)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "realism.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep sim.Report
	if err := json.Unmarshal(raw, &rep); err != nil || rep.Images != 101 || rep.Every != 3 {
		t.Errorf("report.json: %v, %d images every %d", err, rep.Images, rep.Every)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("--report-only wrote %d entries, want the two report files", len(entries))
	}
	if _, err := runSimulateCmd(t, "--report-only", "--counts", "small"); err == nil || !strings.Contains(err.Error(), "--report FILE.md") {
		t.Errorf("--report-only without --report: %v", err)
	}
}
