package uploads

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Rounds of retraining: every classifier that scored the candidates is a
// round, in the order it first scored them; each is judged by the
// consensus as it stands, so earlier rounds are re-judged as grading goes
// on.

// maxMovers is how many of the largest rank changes a round lists.
const maxMovers = 10

// candidates are the valid uploads, one per content (uploads of the same
// bytes share scores and grades), with their grades' consensus class.
type candidates struct {
	ups       []shared.Upload
	consensus map[int64]string // by upload ID; "" ungraded
}

func (s *Service) candidates(ctx context.Context) (candidates, error) {
	all, err := s.uploads(ctx, store.UploadFilter{})
	if err != nil {
		return candidates{}, err
	}
	c := candidates{ups: onePerContent(all), consensus: map[int64]string{}}
	grades, err := s.st.Grades(ctx, ids(c.ups))
	if err != nil {
		return candidates{}, err
	}
	for _, u := range c.ups {
		if k := ConsensusOf(grades[u.ID]); k != nil {
			c.consensus[u.ID] = k.Class
		}
	}
	return c, nil
}

// ranks are the 1-based ranks a checkpoint gives the candidates it
// scored, by upload ID, and the ranking itself.
func (s *Service) ranks(ctx context.Context, c candidates, ckpt int64) (map[int64]int, []shared.Upload, error) {
	ups, err := s.withScores(ctx, ckpt, slices.Clone(c.ups))
	if err != nil {
		return nil, nil, err
	}
	Rank(ups)
	rank := map[int64]int{}
	var scored []shared.Upload
	for _, u := range ups {
		if u.Score != nil {
			scored = append(scored, u)
			rank[u.ID] = len(scored)
		}
	}
	return rank, scored, nil
}

// onePerContent keeps the first upload of each content (uploads of the
// same bytes share scores and grades), in order.
func onePerContent(ups []shared.Upload) []shared.Upload {
	seen := map[string]bool{}
	var out []shared.Upload
	for _, u := range ups {
		if !seen[u.SHA256] {
			seen[u.SHA256] = true
			out = append(out, u)
		}
	}
	return out
}

func isLens(class string) bool { return class == shared.GradeA || class == shared.GradeB }

// Rounds judges every scoring round at depth n.
func (s *Service) Rounds(ctx context.Context, n int) (shared.Rounds, error) {
	if n < 1 {
		return shared.Rounds{}, fmt.Errorf("uploads: rounds at depth %d: want 1 or more", n)
	}
	rounds, err := s.st.ScoringRounds(ctx)
	if err != nil {
		return shared.Rounds{}, err
	}
	c, err := s.candidates(ctx)
	if err != nil {
		return shared.Rounds{}, err
	}
	out := shared.Rounds{N: n, Rounds: []shared.Round{}}
	var prev map[int64]int
	for _, r := range rounds {
		ck, err := s.st.Checkpoint(ctx, r.Checkpoint)
		if err != nil {
			return shared.Rounds{}, err
		}
		rank, scored, err := s.ranks(ctx, c, r.Checkpoint)
		if err != nil {
			return shared.Rounds{}, err
		}
		round := shared.Round{Checkpoint: r.Checkpoint, Model: ck.RunName + " · " + ck.Name, Scored: len(scored), First: r.First,
			Purity: shared.PurityAtN{N: n}, NewInTop: []shared.RoundCandidate{}, Movers: []shared.RoundCandidate{}}
		lenses := 0
		for _, u := range scored {
			if isLens(c.consensus[u.ID]) {
				lenses++
			}
		}
		entry := func(u shared.Upload) shared.RoundCandidate {
			return shared.RoundCandidate{Upload: u.ID, Name: u.Name, Rank: rank[u.ID], PrevRank: prev[u.ID], Consensus: c.consensus[u.ID]}
		}
		for _, u := range scored[:min(n, len(scored))] {
			class := c.consensus[u.ID]
			if class != "" {
				round.Purity.Graded++
			}
			if isLens(class) {
				round.Purity.Lenses++
				if prev != nil && (prev[u.ID] == 0 || prev[u.ID] > n) {
					round.NewInTop = append(round.NewInTop, entry(u))
				}
			}
		}
		if round.Purity.Graded > 0 {
			round.Purity.Purity = float64(round.Purity.Lenses) / float64(round.Purity.Graded)
		}
		round.Purity.Missed = lenses - round.Purity.Lenses
		if prev != nil {
			for _, u := range scored {
				if p := prev[u.ID]; p != 0 && p != rank[u.ID] {
					round.Movers = append(round.Movers, entry(u))
				}
			}
			slices.SortStableFunc(round.Movers, func(a, b shared.RoundCandidate) int {
				return cmp.Compare(max(b.Rank-b.PrevRank, b.PrevRank-b.Rank), max(a.Rank-a.PrevRank, a.PrevRank-a.Rank))
			})
			round.Movers = round.Movers[:min(maxMovers, len(round.Movers))]
		}
		out.Rounds = append(out.Rounds, round)
		prev = rank
	}
	return out, nil
}
