package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// importedBackbone imports the DINO fixture's teacher into a folder and
// returns it: a checkpoint without normalisation or classifier head.
func importedBackbone(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dino")
	if _, stderr, err := runCmd(t, context.Background(), "import-weights", runImportWeights, fixture("dino_vit_p8_224.pth"), "--out", dir, "--heads", "3"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	return dir
}

// TestEvalImportedBackbone: kNN on imported weights normalises with the
// dataset's train split, as finetune does, and says so.
func TestEvalImportedBackbone(t *testing.T) {
	ctx := context.Background()
	ck := importedBackbone(t)
	_, dataDir := classifierData(t, t.TempDir())
	stdout, stderr, err := runCmd(t, ctx, "eval", runEval, "--checkpoint", ck, "--data", dataDir, "--knn", "--split", "val", "--bootstrap", "0")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "carries no normalisation (imported weights): using the train split statistics of "+dataDir) {
		t.Errorf("stderr does not say where the normalisation came from:\n%s", stderr)
	}
	if !strings.Contains(stdout, "## kNN (k 20, T 0.1, 24 train features)") || !strings.Contains(stdout, "on val, 10 images") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if _, _, err := runCmd(t, ctx, "eval", runEval, "--checkpoint", ck, "--data", dataDir); err == nil || !strings.Contains(err.Error(), "no classifier head") {
		t.Errorf("imported backbone without --knn: err = %v", err)
	}
}

// TestEmbedImportedBackbone: a dataset gives imported weights its
// normalisation; listed files need --norm-from.
func TestEmbedImportedBackbone(t *testing.T) {
	ctx := context.Background()
	ck := importedBackbone(t)
	_, dataDir := classifierData(t, t.TempDir())
	note := "carries no normalisation (imported weights): using the train split statistics of "
	for _, split := range []string{"all", "val"} {
		out := filepath.Join(t.TempDir(), split+".csv")
		stdout, stderr, err := runCmd(t, ctx, "embed", runEmbed, "--checkpoint", ck, "--data", dataDir, "--split", split, "--out", out)
		if err != nil {
			t.Fatalf("--split %s: %v\n%s", split, err, stderr)
		}
		if !strings.Contains(stderr, note+dataDir) || !strings.Contains(stdout, "embeddings of 48 features") {
			t.Errorf("--split %s: stdout %q, stderr %q", split, stdout, stderr)
		}
	}

	lens := filepath.Join(dataDir, "lenses", "0.npy")
	out := filepath.Join(t.TempDir(), "files.csv")
	_, _, err := runCmd(t, ctx, "embed", runEmbed, "--checkpoint", ck, "--out", out, lens)
	if err == nil || !strings.Contains(err.Error(), "pass --norm-from DIR") {
		t.Errorf("files without --norm-from: err = %v", err)
	}
	_, stderr, err := runCmd(t, ctx, "embed", runEmbed, "--checkpoint", ck, "--out", out, "--norm-from", dataDir, lens)
	if err != nil || !strings.Contains(stderr, note+dataDir) {
		t.Errorf("files with --norm-from: err %v, stderr %q", err, stderr)
	}
	if rows := readCSV(t, out); len(rows) != 2 || rows[1][0] != lens {
		t.Errorf("csv rows %v", rows)
	}
}

// TestScoreImportedBackbone: scoring needs a classifier head, which
// imported weights get only by fine-tuning.
func TestScoreImportedBackbone(t *testing.T) {
	ck := importedBackbone(t)
	_, dataDir := classifierData(t, t.TempDir())
	_, _, err := runCmd(t, context.Background(), "score", runScore, "--checkpoint", ck, filepath.Join(dataDir, "lenses", "0.npy"))
	if err == nil || !strings.Contains(err.Error(), "no classifier head") || !strings.Contains(err.Error(), "fine-tuned") {
		t.Errorf("score with imported weights: err = %v", err)
	}
}
