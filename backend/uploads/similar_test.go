package uploads

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

func TestNearest(t *testing.T) {
	set := []jobs.Embedding{
		{Name: "a", Vector: []float32{1, 0}},
		{Name: "b", Vector: []float32{0, 1}},
		{Name: "c", Vector: []float32{1, 1}},
		{Name: "zero", Vector: []float32{0, 0}},
		{Name: "short", Vector: []float32{1}},
	}
	got := nearest([]float32{2, 1}, set, 10)
	var names []string
	for _, n := range got {
		names = append(names, set[n.index].Name)
	}
	if !slices.Equal(names, []string{"c", "a", "b"}) || got[0].sim < got[1].sim {
		t.Errorf("nearest: %v %+v", names, got)
	}
	if len(nearest([]float32{1, 0}, set, 1)) != 1 {
		t.Error("k not applied")
	}
}

func TestEmbedCache(t *testing.T) {
	c := newEmbedCache(2)
	for _, k := range []string{"a", "b", "a", "c"} {
		c.put(k, []jobs.Embedding{{Name: k}})
	}
	for k, want := range map[string]bool{"a": false, "b": true, "c": true} {
		if _, ok := c.get(k); ok != want {
			t.Errorf("%s cached: %v, want %v", k, ok, want)
		}
	}
}

// stubModel scores every file 0.5 and embeds the training set and files
// by fixed vectors, recording what it is asked.
type stubModel struct {
	train     []jobs.Embedding
	files     map[string][]float32 // EmbedFiles' answers by path
	embedErr  error
	calls     []string // "score", "embed train", "embed files"
	fileLists [][]string
	scored    [][]string // Score's file lists
}

func (m *stubModel) Score(ctx context.Context, ck string, files []string) ([]jobs.FileScore, map[string]string, error) {
	m.calls = append(m.calls, "score")
	m.scored = append(m.scored, files)
	var out []jobs.FileScore
	for _, f := range files {
		out = append(out, jobs.FileScore{File: f, LensProb: 0.5})
	}
	return out, nil, nil
}

func (m *stubModel) Embed(ctx context.Context, ck, dir, split string) ([]jobs.Embedding, error) {
	m.calls = append(m.calls, "embed "+split)
	return m.train, nil
}

func (m *stubModel) EmbedFiles(ctx context.Context, ck string, files []string) ([]jobs.Embedding, error) {
	m.calls = append(m.calls, "embed files")
	m.fileLists = append(m.fileLists, files)
	if m.embedErr != nil {
		return nil, m.embedErr
	}
	var out []jobs.Embedding
	for _, f := range files {
		out = append(out, jobs.Embedding{Name: f, Label: -1, Vector: m.files[f]})
	}
	return out, nil
}

// classifier records a dataset and a succeeded run with a best
// classifier checkpoint trained on it.
func classifier(t *testing.T, s *Service) store.Checkpoint {
	t.Helper()
	ds, err := s.st.CreateDataset(ctx, store.Dataset{Name: "sim", Dir: "datasets/sim", Kind: "simulated"})
	if err != nil {
		t.Fatal(err)
	}
	return finishedClassifier(t, s, ds.ID, "ft", "c0ffee")
}

// finishedClassifier records a succeeded fine-tuning run called name on
// dataset, with a best classifier checkpoint of weights sha.
func finishedClassifier(t *testing.T, s *Service, dataset int64, name, sha string) store.Checkpoint {
	t.Helper()
	run, _, err := s.st.CreateRun(ctx, store.NewRun{Kind: shared.KindFinetune, Name: name, Dataset: dataset})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []shared.RunState{shared.StateRunning, shared.StateSucceeded} {
		if _, err := s.st.SetState(ctx, run.ID, store.Transition{To: to}); err != nil {
			t.Fatal(err)
		}
	}
	ck, err := s.st.PutCheckpoint(ctx, store.Checkpoint{Checkpoint: shared.Checkpoint{Run: run.ID, Name: "best", Classifier: true, SHA256: sha},
		Path: fmt.Sprintf("runs/%d/checkpoints/best/model.safetensors", run.ID)})
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// TestSimilar embeds the upload's own file through the model's list path
// (no dataset folder made for it), scoring it first, keeps its embedding
// beside its score and the training set's in the cache.
func TestSimilar(t *testing.T) {
	m := &stubModel{files: map[string][]float32{}, train: []jobs.Embedding{
		{Name: "lenses/1.npy", Label: 1, Vector: []float32{1, 0}},
		{Name: "nonlenses/2.npy", Label: 0, Vector: []float32{0, 1}},
		{Name: "lenses/3.npy", Label: 1, Vector: []float32{1, 1}},
	}}
	s := newService(t, m, Limits{Files: 10, ZipBytes: 1 << 20})
	ct, body := form(t, part{"q.npy", cutout(40, 1)})
	resp, err := s.Upload(ctx, "ann", ct, body) // no model yet: not scored
	if err != nil || len(resp.Uploads) != 1 {
		t.Fatalf("upload: %+v %v", resp, err)
	}
	up := resp.Uploads[0]
	_, path, err := s.Stored(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.files[path] = []float32{2, 1}

	var ue *Error
	if _, err := s.Similar(ctx, up.ID, 0, 0, 2); !errors.As(err, &ue) || ue.Kind != NoModel || !strings.Contains(err.Error(), "no model yet") {
		t.Fatalf("similar without a model: %v", err)
	}
	ck := classifier(t, s)
	for range 2 {
		sim, err := s.Similar(ctx, up.ID, 0, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if sim.Checkpoint != ck.ID || len(sim.Neighbours) != 2 || sim.Neighbours[0].Image != "lenses/3.npy" ||
			sim.Neighbours[1].Image != "lenses/1.npy" || sim.Neighbours[0].Class != "lenses" {
			t.Errorf("similar %+v", sim)
		}
	}
	if want := []string{"embed train", "score", "embed files"}; !slices.Equal(m.calls, want) {
		t.Errorf("model calls %q, want %q", m.calls, want)
	}
	if len(m.fileLists) != 1 || !slices.Equal(m.fileLists[0], []string{path}) {
		t.Errorf("embedded files %q, want the upload's own %s", m.fileLists, path)
	}
	if v, err := s.st.Embedding(ctx, up.ID, ck.ID); err != nil || !slices.Equal(v, []float32{2, 1}) {
		t.Errorf("stored embedding %v, %v", v, err)
	}
	if u, err := s.Get(ctx, up.ID, 0); err != nil || u.Score == nil || u.Score.LensProb != 0.5 {
		t.Errorf("upload after similar: %+v, %v", u, err)
	}

	// A model that cannot embed the file fails the request with its error.
	ct, body = form(t, part{"r.npy", cutout(40, 2)})
	resp, err = s.Upload(ctx, "ann", ct, body)
	if err != nil || resp.Scoring != shared.ScoringDone {
		t.Fatalf("upload with a model: %+v %v", resp, err)
	}
	m.embedErr = errors.New("sslens embed: r.npy: corrupt")
	if _, err := s.Similar(ctx, resp.Uploads[0].ID, 0, 0, 2); err == nil || !strings.Contains(err.Error(), "r.npy") {
		t.Errorf("similar with a failing model: %v", err)
	}
}
