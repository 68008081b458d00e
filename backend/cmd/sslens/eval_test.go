package main

import (
	"cmp"
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
)

func TestEvalCommand(t *testing.T) {
	run, dataDir := trainedRun(t)
	ctx := context.Background()

	stdout, stderr, err := runCmd(t, ctx, "eval", runEval, "--checkpoint", run, "--split", "val")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"on val, 10 images", "## Classifier", "| ROC AUC |", "1000 stratified resamples"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	stdout, stderr, err = runCmd(t, ctx, "eval", runEval, "--checkpoint", filepath.Join(run, "checkpoints/best/model.safetensors"),
		"--knn", "--json", "--bootstrap", "0", "--data", dataDir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var out evalOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if out.Split != "test" || out.Classifier == nil || out.KNN == nil || out.Classifier.N != 12 || out.KNN.N != 12 ||
		out.Classifier.AUCCI != nil || out.Preset != "vit_nano" {
		t.Errorf("json output %+v", out)
	}
	if out.Classifier.AUC < 0.9 || out.KNN.AUC < 0.9 {
		t.Errorf("separable data: classifier AUC %v, kNN AUC %v", out.Classifier.AUC, out.KNN.AUC)
	}

	// A pretrained backbone has no head: kNN only.
	bb := filepath.Join(t.TempDir(), "backbone.safetensors")
	p, _ := vit.LookupPreset("vit_nano")
	ps, err := vit.New(p, 0, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	norm := ckpt.Normalization{Mean: [3]float64{0.2, 0.7, 1.3}, Std: [3]float64{0.3, 0.3, 0.3}}
	if err := ckpt.Save(bb, ckpt.ParamTensors(ps), ckpt.Sidecar{Preset: "vit_nano", Normalization: norm}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, ctx, "eval", runEval, "--checkpoint", bb, "--data", dataDir); err == nil || !strings.Contains(err.Error(), "no classifier head") {
		t.Errorf("backbone without --knn: err = %v", err)
	}
	stdout, _, err = runCmd(t, ctx, "eval", runEval, "--checkpoint", bb, "--data", dataDir, "--knn", "--bootstrap", "0")
	if err != nil || strings.Contains(stdout, "## Classifier") || !strings.Contains(stdout, "## kNN (k 20, T 0.1, 24 train features)") {
		t.Errorf("backbone with --knn: err %v, output:\n%s", err, stdout)
	}
	// Voting with a fine-tuning subset: 6 of the 24 train images.
	stdout, _, err = runCmd(t, ctx, "eval", runEval, "--checkpoint", bb, "--data", dataDir, "--knn", "--knn-labels", "6", "--subset-seed", "1", "--json", "--bootstrap", "0")
	out = evalOutput{}
	if jerr := json.Unmarshal([]byte(stdout), &out); err != nil || jerr != nil || out.KNNVoters != 6 || out.KNN == nil || out.KNN.N != 12 {
		t.Errorf("--knn-labels 6: err %v, output %+v", cmp.Or(err, jerr), out)
	}
	stdout, _, err = runCmd(t, ctx, "eval", runEval, "--checkpoint", bb, "--data", dataDir, "--knn", "--knn-labels", "6", "--bootstrap", "0")
	if err != nil || !strings.Contains(stdout, "## kNN (k 6, T 0.1, the 6-label subset of subset seed 0)") {
		t.Errorf("--knn-labels 6: err %v, output:\n%s", err, stdout)
	}
	if _, _, err := runCmd(t, ctx, "eval", runEval, "--checkpoint", bb, "--data", dataDir, "--knn", "--knn-labels", "60"); err == nil ||
		!strings.Contains(err.Error(), "--knn-labels: data: subset size 60 needs 30 lenses, the train split has") {
		t.Errorf("--knn-labels larger than the train split: err = %v", err)
	}
	if _, _, err := runCmd(t, ctx, "eval", runEval, "--checkpoint", bb, "--knn"); err == nil || !strings.Contains(err.Error(), "pass --data DIR") {
		t.Errorf("backbone without a dataset: err = %v", err)
	}
}

func TestEvalUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no checkpoint", nil, "want --checkpoint C"},
		{"positional", []string{"--checkpoint", "c", "extra"}, "no arguments"},
		{"bad split", []string{"--checkpoint", "c", "--split", "holdout"}, `--split "holdout"`},
		{"knn on train", []string{"--checkpoint", "c", "--split", "train", "--knn"}, "needs --split val or test"},
		{"negative bootstrap", []string{"--checkpoint", "c", "--bootstrap", "-1"}, "--bootstrap -1 is negative"},
		{"knn labels without knn", []string{"--checkpoint", "c", "--knn-labels", "300"}, "--knn-labels 300: want a positive label count, with --knn"},
		{"negative knn labels", []string{"--checkpoint", "c", "--knn", "--knn-labels", "-2"}, "--knn-labels -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, context.Background(), "eval", runEval, tc.args...)
			if err != errUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("err = %v, stderr %q; want usage naming %q", err, stderr, tc.want)
			}
		})
	}
}
