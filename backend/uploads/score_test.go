package uploads

import (
	"slices"
	"testing"

	"github.com/sslens/sslens/shared"
)

func TestRank(t *testing.T) {
	p := func(v float64) *shared.Score { return &shared.Score{LensProb: v} }
	ups := []shared.Upload{{ID: 1}, {ID: 2, Score: p(0.2)}, {ID: 3}, {ID: 4, Score: p(0.9)}, {ID: 5, Score: p(0.2)}}
	Rank(ups)
	var ids []int64
	for _, u := range ups {
		ids = append(ids, u.ID)
	}
	// Highest P(lens) first, ties and the unscored newest first.
	if want := []int64{4, 5, 2, 3, 1}; !slices.Equal(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
}

// Uploads of the same bytes are scored once, and every one of them,
// another user's included, shows that score.
func TestScoreSharedBytesOnce(t *testing.T) {
	m := &stubModel{}
	s := newService(t, m, Limits{})
	classifier(t, s)
	good := cutout(40, 1)
	ct, body := form(t, part{"a.npy", good}, part{"copy.npy", good}, part{"b.npy", cutout(40, 2)})
	resp, err := s.Upload(ctx, "ann", ct, body)
	if err != nil || resp.Scoring != shared.ScoringDone || len(resp.Uploads) != 3 {
		t.Fatalf("upload: %+v, %v", resp, err)
	}
	if len(m.scored) != 1 || len(m.scored[0]) != 2 {
		t.Errorf("scored %q, want the two distinct files once", m.scored)
	}
	ct, body = form(t, part{"mine.npy", good})
	if resp, err = s.Upload(ctx, "bob", ct, body); err != nil || resp.Uploads[0].Score == nil || resp.Uploads[0].Score.LensProb != 0.5 {
		t.Errorf("bob's upload of scored bytes: %+v, %v", resp, err)
	}
	if len(m.scored) != 1 {
		t.Errorf("bytes scored again: %q", m.scored)
	}
}
