package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
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
	b, err := os.ReadFile(csvOut)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 11 || len(rows[0]) != 130 || rows[0][2] != "f0" || rows[1][0] != "lenses/24.npy" || rows[1][1] != "1" || rows[10][1] != "0" {
		t.Fatalf("csv: %d rows, header %v", len(rows), rows[0][:3])
	}
	if v, err := strconv.ParseFloat(rows[1][2], 64); err != nil || v == 0 {
		t.Errorf("csv feature %q", rows[1][2])
	}
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, context.Background(), "embed", runEmbed, tc.args...)
			if err != errUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("err = %v, stderr %q; want usage naming %q", err, stderr, tc.want)
			}
		})
	}
}
