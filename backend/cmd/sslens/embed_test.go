package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sbinet/npyio/npy"
	"gonum.org/v1/gonum/mat"
)

func TestEmbedCommand(t *testing.T) {
	run, _ := trainedRun(t)
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "emb.npy")
	stdout, stderr, err := runCmd(t, ctx, "embed", runEmbed, "--checkpoint", run, "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "wrote 46 embeddings of 128 features") {
		t.Errorf("stdout %q", stdout)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m mat.Dense
	if err := npy.Read(f, &m); err != nil {
		t.Fatal(err)
	}
	if r, c := m.Dims(); r != 46 || c != 128 {
		t.Fatalf("array is %dx%d, want 46x128", r, c)
	}
	names, err := os.ReadFile(filepath.Join(filepath.Dir(out), "emb.names.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(names)), "\n")
	if len(lines) != 46 || lines[0] != "lenses/0.npy" || lines[45] != "nonlenses/45.npy" {
		t.Errorf("names: %d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	// The stand-in's features are the normalised band means: lenses are brighter.
	if m.At(0, 0) <= m.At(45, 0) || m.At(0, 3) != 0 {
		t.Errorf("features of a lens %v and a non-lens %v", mat.Row(nil, 0, &m)[:4], mat.Row(nil, 45, &m)[:4])
	}

	csvOut := filepath.Join(t.TempDir(), "val.csv")
	if _, stderr, err := runCmd(t, ctx, "embed", runEmbed, "--checkpoint", run, "--out", csvOut, "--split", "val"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := readCSV(t, csvOut)
	if len(rows) != 11 || len(rows[0]) != 130 || rows[0][2] != "f0" || rows[1][0] != "lenses/24.npy" || rows[1][1] != "1" || rows[10][1] != "0" {
		t.Fatalf("csv: %d rows, header %v", len(rows), rows[0][:3])
	}
	if v, err := strconv.ParseFloat(rows[1][2], 64); err != nil || v == 0 {
		t.Errorf("csv feature %q", rows[1][2])
	}
}

// TestEmbedFiles embeds a list of files: the same features as the
// dataset path gives the same images, named as given and unlabelled; a bad
// file in the list fails the command naming it.
func TestEmbedFiles(t *testing.T) {
	run, dataDir := trainedRun(t)
	ctx := context.Background()
	lens, nonLens := filepath.Join(dataDir, "lenses", "0.npy"), filepath.Join(dataDir, "nonlenses", "45.npy")
	out := filepath.Join(t.TempDir(), "files.csv")
	stdout, stderr, err := runCmd(t, ctx, "embed", runEmbed, "--checkpoint", run, "--out", out, lens, nonLens)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "wrote 2 embeddings of 128 features") {
		t.Errorf("stdout %q", stdout)
	}
	rows := readCSV(t, out)
	if len(rows) != 3 || rows[1][0] != lens || rows[2][0] != nonLens || rows[1][1] != "-1" || rows[2][1] != "-1" {
		t.Fatalf("csv rows %v", rows)
	}
	all := filepath.Join(t.TempDir(), "all.csv")
	if _, stderr, err := runCmd(t, ctx, "embed", runEmbed, "--checkpoint", run, "--out", all); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	ref := readCSV(t, all)
	if !slices.Equal(rows[1][2:], ref[1][2:]) || !slices.Equal(rows[2][2:], ref[46][2:]) {
		t.Errorf("features of the listed files differ from the dataset's: %v vs %v", rows[1][2:5], ref[1][2:5])
	}

	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.npy")
	if err := os.WriteFile(corrupt, []byte("\x93NUMPY garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{corrupt, filepath.Join(dir, "missing.fits")} {
		bout := filepath.Join(t.TempDir(), "bad.csv")
		_, _, err := runCmd(t, ctx, "embed", runEmbed, "--checkpoint", run, "--out", bout, lens, bad)
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("embedding a list with %s: err = %v, want an error naming it", filepath.Base(bad), err)
		}
		if _, err := os.Stat(bout); err == nil {
			t.Errorf("%s written despite the bad file", bout)
		}
	}
}

func readCSV(t *testing.T, path string) [][]string {
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
	return rows
}

func TestEmbedUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"--checkpoint", "c"}, "want --checkpoint C and --out F"},
		{"bad extension", []string{"--checkpoint", "c", "--out", "e.parquet"}, "want a .npy or .csv file"},
		{"bad split", []string{"--checkpoint", "c", "--out", "e.npy", "--split", "holdout"}, `--split "holdout"`},
		{"files and a split", []string{"--checkpoint", "c", "--out", "e.npy", "--split", "val", "a.npy"}, "FILE arguments exclude"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, context.Background(), "embed", runEmbed, tc.args...)
			if err != errUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("err = %v, stderr %q; want usage naming %q", err, stderr, tc.want)
			}
		})
	}
}
