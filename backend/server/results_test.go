package server

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Without runs, /api/results still carries the published numbers.
func TestResultsWithoutRuns(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	var res shared.Results
	if code := c.json("GET", "/api/results", nil, &res); code != 200 {
		t.Fatalf("results: %d", code)
	}
	if res.Rows == nil || res.Reproductions == nil || len(res.Rows)+len(res.Reproductions) != 0 {
		t.Errorf("rows %v, reproductions %v: want both empty, not null", res.Rows, res.Reproductions)
	}
	ref := res.Reference
	if ref == nil || ref.Caveat == "" || ref.Source == "" || len(ref.Rows) != 32 {
		t.Fatalf("reference %+v", ref)
	}
	if r := ref.Rows[0]; r.Method != "supervised" || r.Backbone != "vit_small" || r.Labels != 300 || math.Abs(r.Accuracy-0.897098) > 1e-12 || r.AUC != 0.9547 {
		t.Errorf("first published row %+v", r)
	}
}

// A succeeded reproduce run's results.json is served converted, with its
// first seed's ROC curve on request.
func TestResultsOfReproduceRun(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	run := adm.createRun(shared.CreateRunRequest{Kind: shared.KindReproduce, Name: "repro"})
	j := f.waitRun(t, run.ID, shared.StateFailed) // the stand-in sslens has no reproduce
	if _, err := f.st.SetState(context.Background(), j.ID, store.Transition{To: shared.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.dir, j.Dir)
	ci := &eval.Interval{Lo: 0.7, Hi: 0.9}
	res := layout.ReproduceResults{Name: "cpu", Test: shared.TestSplit{Images: 20, Lenses: 10, NonLenses: 10}, Bootstrap: 100,
		Backbones: []string{"vit_nano"}, Methods: []string{"supervised", "dino"}, Labels: []string{"300"}, Seeds: []uint64{1, 2},
		Rows: []layout.ResultRow{
			{Method: "supervised", Backbone: "vit_nano", Labels: "300", TrainImages: 300,
				Accuracy: shared.Spread{Mean: 0.8, CI: shared.Interval{Lo: 0.7, Hi: 0.9}}, AUC: shared.Spread{Mean: 0.85, Std: 0.01, CI: shared.Interval{Lo: 0.75, Hi: 0.95}},
				Seeds: []layout.SeedResult{{Seed: 1, Run: "cells/sup-1", AUC: 0.84, AUCCI: ci}, {Seed: 2, Run: "cells/sup-2", AUC: 0.86}}},
			{Method: "dino", Backbone: "vit_nano", Labels: "300", TrainImages: 300,
				Seeds: []layout.SeedResult{{Seed: 1, Run: "cells/gone"}}},
		},
		Comparisons: []layout.Comparison{{Backbone: "vit_nano", Labels: "300", Method: "dino",
			AUC: eval.Diff{Diff: 0.02, CI: eval.Interval{Lo: -0.01, Hi: 0.05}}, Overlap: true, Best: true, Verdict: shared.VerdictNotDistinguished}},
	}
	writeJSONFile(t, filepath.Join(dir, layout.ResultsJSON), res)
	writeJSONFile(t, filepath.Join(dir, "cells", "sup-1", layout.ReportJSON),
		map[string]any{"last": map[string]any{"test": map[string]any{"roc": []eval.ROCPoint{{FPR: 0, TPR: 0}, {FPR: 0.5, TPR: 0.9}, {FPR: 1, TPR: 1}}}}})

	astro := f.login(t, astroUser)
	var got shared.Results
	if code := astro.json("GET", "/api/results?roc=1", nil, &got); code != 200 || len(got.Reproductions) != 1 {
		t.Fatalf("results: %d %+v", code, got)
	}
	rp := got.Reproductions[0]
	if rp.Run != run.ID || rp.RunName != "repro" || rp.Name != "cpu" || rp.Test.Images != 20 || len(rp.Rows) != 2 ||
		len(rp.Methods) != 2 || rp.Methods[1] != "dino" || len(rp.Seeds) != 2 {
		t.Fatalf("reproduction %+v", rp)
	}
	sup := rp.Rows[0]
	if sup.Method != "supervised" || sup.AUC.Mean != 0.85 || sup.AUC.CI.Hi != 0.95 || len(sup.Seeds) != 2 ||
		sup.Seeds[0].AUCCI == nil || sup.Seeds[0].AUCCI.Lo != 0.7 || sup.Seeds[1].AUCCI != nil || len(sup.ROC) != 3 || sup.ROC[1].TPR != 0.9 {
		t.Errorf("supervised row %+v", sup)
	}
	if rp.Rows[1].ROC != nil {
		t.Errorf("a cell without a report has ROC points %v", rp.Rows[1].ROC)
	}
	if c := rp.Comparisons; len(c) != 1 || c[0].Verdict != shared.VerdictNotDistinguished || !c[0].Best || c[0].AUCDiff.CI.Lo != -0.01 {
		t.Errorf("comparisons %+v", c)
	}
	var plain shared.Results
	if astro.json("GET", "/api/results", nil, &plain); plain.Reproductions[0].Rows[0].ROC != nil {
		t.Error("ROC points without ?roc=1")
	}

	// A cell folder outside the run folder is refused.
	res.Rows[0].Seeds[0].Run = "../../elsewhere"
	writeJSONFile(t, filepath.Join(dir, layout.ResultsJSON), res)
	if code, _ := astro.apiErr("GET", "/api/results?roc=1", "", nil); code != 500 {
		t.Errorf("results with an escaping cell folder: %d, want 500", code)
	}
}

func writeJSONFile(t *testing.T, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
