package uploads

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Similar returns the k training images most similar to upload id by
// cosine similarity of their embeddings by checkpoint ckpt (0: the
// default), most similar first. The training set's embeddings are cached
// per checkpoint and dataset; the upload's are stored with its score.
func (s *Service) Similar(ctx context.Context, id, ckpt, dataset int64, k int) (shared.Similar, error) {
	u, _, err := s.Stored(ctx, id)
	if err != nil {
		return shared.Similar{}, err
	}
	ck, err := s.requireCheckpoint(ctx, ckpt)
	if err != nil {
		return shared.Similar{}, err
	}
	if s.model == nil {
		return shared.Similar{}, store.Conflict("embeddings are not available in this server")
	}
	if dataset == 0 {
		run, err := s.st.Run(ctx, ck.Run)
		if err != nil {
			return shared.Similar{}, err
		}
		if run.Dataset == 0 {
			return shared.Similar{}, store.Conflict("checkpoint %d does not record its training data", ck.ID)
		}
		dataset = run.Dataset
	}
	ds, err := s.st.Dataset(ctx, dataset)
	if err != nil {
		return shared.Similar{}, err
	}
	key := ck.SHA256 + "|" + ds.Dir
	train, ok := s.embeds.get(key)
	if !ok {
		if train, err = s.model.Embed(ctx, s.abs(ck.Path), s.abs(ds.Dir), "train"); err != nil {
			return shared.Similar{}, err
		}
		s.embeds.put(key, train)
	}
	q, err := s.embedding(ctx, u, ck)
	if err != nil {
		return shared.Similar{}, err
	}
	out := shared.Similar{Upload: u.ID, Checkpoint: ck.ID, Neighbours: []shared.Neighbour{}}
	for _, n := range nearest(q, train, k) {
		e := train[n.index]
		class, _, _ := strings.Cut(e.Name, "/")
		out.Neighbours = append(out.Neighbours, shared.Neighbour{Dataset: ds.ID, Image: e.Name, Class: class, Similarity: n.sim})
	}
	return out, nil
}

// embedding returns an upload's embedding by a checkpoint, computing and
// storing it on first use (beside its score, which it computes first if
// need be).
func (s *Service) embedding(ctx context.Context, u store.Upload, ck store.Checkpoint) ([]float32, error) {
	v, err := s.st.Embedding(ctx, u.ID, ck.ID)
	if err != nil || v != nil {
		return v, err
	}
	sc, err := s.st.Scores(ctx, ck.ID, u.ID)
	if err != nil {
		return nil, err
	}
	if _, ok := sc[u.ID]; !ok {
		if err := s.score(ctx, ck, []shared.Upload{u.Upload}); err != nil {
			return nil, err
		}
		if sc, err = s.st.Scores(ctx, ck.ID, u.ID); err != nil {
			return nil, err
		}
	}
	embs, err := s.model.EmbedFiles(ctx, s.abs(ck.Path), []string{s.abs(u.Path)})
	if err != nil {
		return nil, err
	}
	if len(embs) != 1 {
		return nil, fmt.Errorf("uploads: embedding upload %d: got %d vectors, want 1", u.ID, len(embs))
	}
	v = embs[0].Vector
	err = s.st.PutScores(ctx, ck.ID, []store.ScoreRow{{Upload: u.ID, LensProb: sc[u.ID].LensProb, Embedding: v}})
	return v, err
}

// neighbour is a row of a set and its cosine similarity to a query.
type neighbour struct {
	index int
	sim   float64
}

// nearest returns the k rows of set most similar to q by cosine
// similarity, most similar first (ties by index). Rows of another length
// than q, and zero vectors, are skipped.
func nearest(q []float32, set []jobs.Embedding, k int) []neighbour {
	qn := norm(q)
	var out []neighbour
	for i, e := range set {
		if len(e.Vector) != len(q) {
			continue
		}
		var dot float64
		for j, x := range e.Vector {
			dot += float64(x) * float64(q[j])
		}
		den := qn * norm(e.Vector)
		if den == 0 {
			continue
		}
		out = append(out, neighbour{i, dot / den})
	}
	slices.SortStableFunc(out, func(a, b neighbour) int { return cmp.Compare(b.sim, a.sim) })
	return out[:min(k, len(out))]
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// embedCache keeps the training-set embeddings of the max most recently
// added checkpoint and dataset pairs.
type embedCache struct {
	max   int
	mu    sync.Mutex
	order []string // keys, oldest first
	sets  map[string][]jobs.Embedding
}

func newEmbedCache(max int) *embedCache {
	return &embedCache{max: max, sets: map[string][]jobs.Embedding{}}
}

func (e *embedCache) get(key string) ([]jobs.Embedding, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.sets[key]
	return v, ok
}

func (e *embedCache) put(key string, v []jobs.Embedding) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sets[key]; !ok {
		e.order = append(e.order, key)
	}
	e.sets[key] = v
	for len(e.order) > e.max {
		delete(e.sets, e.order[0])
		e.order = e.order[1:]
	}
}
