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
