package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/configs"
	"github.com/sslens/sslens/shared"
)

// reference converts the reference project's published numbers
// (configs/reference/seed-results.json) to their wire form.
func reference() (*shared.Reference, error) {
	ref, err := config.ParseReference([]byte(configs.SeedResults))
	if err != nil {
		return nil, err
	}
	out := &shared.Reference{Source: ref.Source, Caveat: ref.Caveat, Rows: make([]shared.ReferenceRow, len(ref.Rows))}
	for i, r := range ref.Rows {
		out.Rows[i] = shared.ReferenceRow{Method: r.Method, Backbone: r.Backbone, Labels: r.Labels, Accuracy: r.Accuracy, AUC: r.AUC}
	}
	return out, nil
}

// reproductions reads the results.json of every succeeded reproduce run;
// a run without one (removed by hand) is left out. roc adds the rows' ROC
// points.
func (s *Server) reproductions(r *http.Request, roc bool) ([]shared.Reproduction, error) {
	js, err := s.st.Runs(r.Context(), store.RunFilter{Kind: shared.KindReproduce, States: []shared.RunState{shared.StateSucceeded}})
	if err != nil {
		return nil, err
	}
	out := []shared.Reproduction{}
	for _, j := range js {
		rep, err := s.reproduction(j, roc)
		if err != nil {
			return nil, err
		}
		if rep != nil {
			out = append(out, *rep)
		}
	}
	return out, nil
}

// reproduction converts one reproduce run's results.json; nil when the run
// folder has none. With roc, each row's ROC curve is its first seed's,
// read from that classifier's report.json (cell folders are relative to
// the run folder, the reproduction's output folder).
func (s *Server) reproduction(j store.Run, roc bool) (*shared.Reproduction, error) {
	res, err := layout.ReadResults(s.abs(j.Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", j.ID, err)
	}
	out := &shared.Reproduction{Run: j.ID, RunName: j.Name, Name: res.Name, Created: res.Created,
		Test:      res.Test,
		Bootstrap: res.Bootstrap, Backbones: res.Backbones, Methods: res.Methods, Labels: res.Labels, Seeds: res.Seeds,
		Rows: make([]shared.ReproduceRow, len(res.Rows)), Comparisons: make([]shared.Comparison, len(res.Comparisons))}
	for i, row := range res.Rows {
		w := shared.ReproduceRow{Method: row.Method, Backbone: row.Backbone, Labels: row.Labels, TrainImages: row.TrainImages,
			Accuracy: row.Accuracy, AUC: row.AUC}
		for _, sd := range row.Seeds {
			w.Seeds = append(w.Seeds, shared.ReproduceSeed{Seed: sd.Seed, Accuracy: sd.Accuracy, AccuracyCI: intervalDTO(sd.AccuracyCI),
				AUC: sd.AUC, AUCCI: intervalDTO(sd.AUCCI)})
		}
		if roc && len(row.Seeds) > 0 {
			if w.ROC, err = s.cellROC(j, row.Seeds[0].Run); err != nil {
				return nil, err
			}
		}
		out.Rows[i] = w
	}
	for i, c := range res.Comparisons {
		out.Comparisons[i] = shared.Comparison{Backbone: c.Backbone, Labels: c.Labels, Method: c.Method,
			AUCDiff:      shared.Diff{Diff: c.AUC.Diff, CI: shared.Interval{Lo: c.AUC.CI.Lo, Hi: c.AUC.CI.Hi}, Level: c.AUC.Level},
			AccuracyDiff: shared.Diff{Diff: c.Accuracy.Diff, CI: shared.Interval{Lo: c.Accuracy.CI.Lo, Hi: c.Accuracy.CI.Hi}, Level: c.Accuracy.Level},
			Overlap:      c.Overlap, Best: c.Best, Verdict: c.Verdict}
	}
	return out, nil
}

// cellROC is the test ROC curve of a reproduction's classifier cell; none
// when its report is gone.
func (s *Server) cellROC(j store.Run, cell string) ([]shared.ROCPoint, error) {
	if !fs.ValidPath(cell) {
		return nil, fmt.Errorf("run %d: %s: cell folder %q is not inside the run folder", j.ID, layout.ResultsJSON, cell)
	}
	rep, err := layout.Run(s.abs(path.Join(j.Dir, cell))).ReadReport()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", j.ID, err)
	}
	return rocDTO(rep.Last.Test.ROC), nil
}

func intervalDTO(ci *eval.Interval) *shared.Interval {
	if ci == nil {
		return nil
	}
	return &shared.Interval{Lo: ci.Lo, Hi: ci.Hi}
}

func rocDTO(ps []eval.ROCPoint) []shared.ROCPoint {
	var out []shared.ROCPoint
	for _, p := range ps {
		out = append(out, shared.ROCPoint{FPR: p.FPR, TPR: p.TPR, Threshold: p.Threshold})
	}
	return out
}
