package uploads

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Rank orders uploads as the portal shows them: by lens probability,
// highest first, then the unscored ones; ties newest (highest id) first.
// It is the one ranking order: clients show uploads in the order given.
func Rank(ups []shared.Upload) {
	slices.SortStableFunc(ups, func(a, b shared.Upload) int {
		switch {
		case a.Score != nil && b.Score != nil:
			return cmp.Or(cmp.Compare(b.Score.LensProb, a.Score.LensProb), cmp.Compare(b.ID, a.ID))
		case a.Score != nil:
			return -1
		case b.Score != nil:
			return 1
		}
		return cmp.Compare(b.ID, a.ID)
	})
}

// Models are the checkpoints that can score and the default one.
type Models struct {
	Checkpoints []store.Checkpoint  // newest run first, best before last
	Default     *store.Checkpoint   // nil when none can score
	Promotion   *store.DefaultModel // who made Default the default, and when
	Message     string              // without a default: why, and what will change it
}

// Models returns the checkpoints that can score and the default one.
func (s *Service) Models(ctx context.Context) (Models, error) {
	cs, def, err := s.classifiers(ctx)
	if err != nil {
		return Models{}, err
	}
	if def != nil {
		d, _, err := s.st.DefaultModel(ctx)
		return Models{Checkpoints: cs, Default: def, Promotion: &d}, err
	}
	msg, err := s.noModelMessage(ctx)
	return Models{Checkpoints: cs, Message: msg}, err
}

// List returns the valid uploads (only user's unless user is ""), with
// their scores by checkpoint ckpt (0: the default), ranked, and that
// checkpoint (nil when none can score).
func (s *Service) List(ctx context.Context, user string, ckpt int64) ([]shared.Upload, *store.Checkpoint, error) {
	ups, ck, err := s.ranked(ctx, user, ckpt)
	if err != nil {
		return nil, nil, err
	}
	if err := s.describePositions(ctx, ups, user == ""); err != nil {
		return nil, nil, err
	}
	return ups, ck, nil
}

// ranked is List without the positions' descriptions, for callers that
// need the ranking alone.
func (s *Service) ranked(ctx context.Context, user string, ckpt int64) ([]shared.Upload, *store.Checkpoint, error) {
	ups, err := s.uploads(ctx, store.UploadFilter{User: user})
	if err != nil {
		return nil, nil, err
	}
	ck, _, err := s.checkpoint(ctx, ckpt)
	if err != nil {
		return nil, nil, err
	}
	if ck != nil {
		if ups, err = s.withScores(ctx, ck.ID, ups); err != nil {
			return nil, nil, err
		}
	}
	Rank(ups)
	return ups, ck, nil
}

// Get returns upload id with its score by checkpoint ckpt (0: the
// default), if it has one.
func (s *Service) Get(ctx context.Context, id, ckpt int64) (shared.Upload, error) {
	u, _, err := s.Stored(ctx, id)
	if err != nil {
		return shared.Upload{}, err
	}
	one := []shared.Upload{u.Upload}
	if err := s.describePositions(ctx, one, false); err != nil {
		return shared.Upload{}, err
	}
	u.Upload = one[0]
	ck, _, err := s.checkpoint(ctx, ckpt)
	if err != nil || ck == nil {
		return u.Upload, err
	}
	out, err := s.withScores(ctx, ck.ID, []shared.Upload{u.Upload})
	if err != nil {
		return shared.Upload{}, err
	}
	return out[0], nil
}

// Stored returns upload id as recorded and the absolute path of its file;
// an upload rejected when it was uploaded is a Rejected error.
func (s *Service) Stored(ctx context.Context, id int64) (store.Upload, string, error) {
	u, err := s.st.Upload(ctx, id)
	if err != nil {
		return store.Upload{}, "", err
	}
	if !u.Valid {
		return store.Upload{}, "", errorf(Rejected, "upload %d was rejected: %s", id, u.Error)
	}
	return u, s.abs(u.Path), nil
}

// BatchCheckpoint checks a request to score uploads in a batch run and
// returns the checkpoint that will score them: the one it names, else the
// default. Every upload it names must exist.
func (s *Service) BatchCheckpoint(ctx context.Context, req shared.ScoreRequest) (store.Checkpoint, error) {
	ck, err := s.requireCheckpoint(ctx, req.Checkpoint)
	if err != nil || len(req.Uploads) == 0 {
		return ck, err
	}
	found, err := s.st.Uploads(ctx, store.UploadFilter{IDs: req.Uploads})
	if err != nil {
		return store.Checkpoint{}, err
	}
	if len(found) != len(slices.Compact(slices.Sorted(slices.Values(req.Uploads)))) {
		return store.Checkpoint{}, store.Invalid("unknown uploads", "uploads", "some ids are not valid uploads")
	}
	return ck, nil
}

// scoreNew scores the uploads of an upload request with checkpoint ckpt
// (0: the default), recording the outcome in resp, and returns them with
// their scores. A scoring failure is an outcome, not an error.
func (s *Service) scoreNew(ctx context.Context, ckpt int64, ups []shared.Upload, resp *shared.UploadResponse) ([]shared.Upload, error) {
	ck, msg, err := s.checkpoint(ctx, ckpt)
	switch {
	case err != nil:
		return nil, err
	case ck == nil:
		resp.Scoring, resp.Message = shared.ScoringNoModel, msg
		return ups, nil
	}
	resp.Checkpoint = ck.ID
	resp.Scoring, resp.Message = shared.ScoringDone, ""
	if err := s.score(ctx, *ck, ups); err != nil {
		resp.Scoring, resp.Message = shared.ScoringFailed, err.Error()
	}
	return s.withScores(ctx, ck.ID, ups)
}

// score scores the uploads the checkpoint has not scored yet, one
// scoring process per worker slot.
func (s *Service) score(ctx context.Context, ck store.Checkpoint, ups []shared.Upload) error {
	if s.model == nil {
		return errors.New("scoring is not available in this server")
	}
	have, err := s.st.Scores(ctx, ck.ID, ids(ups)...)
	if err != nil {
		return err
	}
	var files []string
	byPath := map[string]int64{}
	for _, u := range ups {
		if _, ok := have[u.ID]; ok {
			continue
		}
		_, p, err := s.Stored(ctx, u.ID)
		if err != nil {
			return err
		}
		if _, ok := byPath[p]; ok { // the same bytes: one score for both
			continue
		}
		files, byPath[p] = append(files, p), u.ID
	}
	if len(files) == 0 {
		return nil
	}
	select { // the rest wait for a slot
	case s.scoreQ <- struct{}{}:
		defer func() { <-s.scoreQ }()
	case <-ctx.Done():
		return ctx.Err()
	}
	scores, failed, err := s.model.Score(ctx, s.abs(ck.Path), files)
	if err != nil {
		return err
	}
	rows := make([]store.ScoreRow, 0, len(scores))
	for _, sc := range scores {
		if id, ok := byPath[sc.File]; ok {
			rows = append(rows, store.ScoreRow{Upload: id, LensProb: sc.LensProb})
		}
	}
	if err := s.st.PutScores(ctx, ck.ID, rows); err != nil {
		return err
	}
	if len(failed) > 0 {
		var msgs []string
		for f, e := range failed {
			msgs = append(msgs, filepath.Base(f)+": "+e)
		}
		slices.Sort(msgs)
		return fmt.Errorf("%d files could not be scored: %s", len(failed), strings.Join(msgs, "; "))
	}
	return nil
}

// withScores attaches the checkpoint's scores to uploads.
func (s *Service) withScores(ctx context.Context, ckpt int64, ups []shared.Upload) ([]shared.Upload, error) {
	sc, err := s.st.Scores(ctx, ckpt, ids(ups)...)
	if err != nil {
		return nil, err
	}
	for i := range ups {
		ups[i].Score = nil
		if v, ok := sc[ups[i].ID]; ok {
			ups[i].Score = &v
		}
	}
	return ups, nil
}

// autoPromoter is who the audit log says promoted the first classifier.
const autoPromoter = "sslens (first classifier)"

// classifiers returns the checkpoints that can score (finished runs'
// classifiers, newest run first, best before last) and the default model:
// the checkpoint an admin promoted. Until one is, the first classifier
// trained (the oldest fine-tuning's best weights: the first start's
// baseline) is promoted once, so a newer run, however poor, never
// replaces it silently. A promoted checkpoint that can no longer score
// leaves no default.
func (s *Service) classifiers(ctx context.Context) ([]store.Checkpoint, *store.Checkpoint, error) {
	cs, err := s.st.Checkpoints(ctx, store.CheckpointFilter{Classifier: true, Succeeded: true})
	if err != nil {
		return nil, nil, err
	}
	d, promoted, err := s.st.DefaultModel(ctx)
	if err != nil {
		return nil, nil, err
	}
	if promoted {
		for i := range cs {
			if cs[i].ID == d.Checkpoint {
				return cs, &cs[i], nil
			}
		}
		return cs, nil, nil
	}
	first, err := s.firstClassifier(ctx, cs)
	if err != nil || first == nil {
		return cs, nil, err
	}
	if err := s.st.PromoteModel(ctx, first.ID, autoPromoter); err != nil {
		return nil, nil, err
	}
	return cs, first, nil
}

// firstClassifier returns the best weights of the oldest fine-tuning run
// among cs (newest run first), else the oldest best, else the oldest.
func (s *Service) firstClassifier(ctx context.Context, cs []store.Checkpoint) (*store.Checkpoint, error) {
	var oldestBest *store.Checkpoint
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].Name != "best" {
			continue
		}
		run, err := s.st.Run(ctx, cs[i].Run)
		if err != nil {
			return nil, err
		}
		if cfg, err := config.Parse([]byte(run.Config)); err == nil && cfg.Experiment.Method == config.Finetune {
			return &cs[i], nil
		}
		if oldestBest == nil {
			oldestBest = &cs[i]
		}
	}
	if oldestBest == nil && len(cs) > 0 {
		oldestBest = &cs[len(cs)-1]
	}
	return oldestBest, nil
}

// Promote makes checkpoint id, a finished run's classifier, the default
// model, on user's authority.
func (s *Service) Promote(ctx context.Context, id int64, user string) (store.Checkpoint, error) {
	cs, _, err := s.classifiers(ctx)
	if err != nil {
		return store.Checkpoint{}, err
	}
	for _, c := range cs {
		if c.ID == id {
			return c, s.st.PromoteModel(ctx, id, user)
		}
	}
	return store.Checkpoint{}, store.Invalid("not a finished classifier", "checkpoint", "checkpoint %d is not a finished run's classifier", id)
}

// checkpoint returns checkpoint id, or the default one when id is 0;
// without any, nil and a message saying what is under way.
func (s *Service) checkpoint(ctx context.Context, id int64) (*store.Checkpoint, string, error) {
	if id != 0 {
		c, err := s.st.Checkpoint(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", store.Invalid("unknown checkpoint", "checkpoint", "no checkpoint %d", id)
		}
		if err != nil {
			return nil, "", err
		}
		if !c.Classifier {
			return nil, "", store.Invalid("not a classifier", "checkpoint", "checkpoint %d has no classifier head", id)
		}
		return &c, "", nil
	}
	_, def, err := s.classifiers(ctx)
	if err != nil || def != nil {
		return def, "", err
	}
	msg, err := s.noModelMessage(ctx)
	return nil, msg, err
}

// requireCheckpoint is checkpoint for work that cannot wait for a model:
// without one, a NoModel error.
func (s *Service) requireCheckpoint(ctx context.Context, id int64) (store.Checkpoint, error) {
	ck, msg, err := s.checkpoint(ctx, id)
	switch {
	case err != nil:
		return store.Checkpoint{}, err
	case ck == nil:
		return store.Checkpoint{}, &Error{Kind: NoModel, Msg: msg}
	}
	return *ck, nil
}

// noModelMessage says why nothing can score yet and what will change it.
func (s *Service) noModelMessage(ctx context.Context) (string, error) {
	if d, promoted, err := s.st.DefaultModel(ctx); err != nil || promoted {
		return fmt.Sprintf("no model: the promoted checkpoint %d can no longer score (its run is not a finished one); an admin promotes another", d.Checkpoint), err
	}
	runs, err := s.st.Runs(ctx, store.RunFilter{Kind: shared.KindFinetune, States: []shared.RunState{shared.StateQueued, shared.StateRunning}, Oldest: true})
	if err != nil {
		return "", err
	}
	if len(runs) == 0 {
		return "no model yet: no classifier has been trained; an admin can launch a finetune run", nil
	}
	r := runs[0]
	msg := fmt.Sprintf("no model yet: run %d (%s) is %s", r.ID, r.Name, r.State)
	if r.Progress != nil && r.Progress.Total > 0 {
		msg += fmt.Sprintf(", %.0f%% done", 100*r.Progress.Fraction)
	}
	return msg + "; uploaded files are kept: score them once it has finished (a score-batch run)", nil
}
