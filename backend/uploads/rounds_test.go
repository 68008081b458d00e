package uploads

import (
	"fmt"
	"testing"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Two rounds of scoring: each judged by today's consensus (purity at N,
// the A and B candidates retraining brought into the top N, the largest
// rank changes), and the grading queue offering first what the new round
// brought up, then what it is least sure of.
func TestRoundsAndActiveLearning(t *testing.T) {
	s := newService(t, &stubModel{}, Limits{})
	ck1 := classifier(t, s)
	id := map[string]int64{}
	upload := func(from, to int) {
		t.Helper()
		var parts []part
		for i := from; i < to; i++ {
			parts = append(parts, part{fmt.Sprintf("u%d.npy", i), cutout(40, float32(i+1))})
		}
		ct, body := form(t, parts...)
		resp, err := s.Upload(ctx, "ann", ct, body)
		if err != nil || len(resp.Uploads) != to-from {
			t.Fatalf("upload: %+v %v", resp, err)
		}
		for _, u := range resp.Uploads {
			id[u.Name] = u.ID
		}
	}
	upload(0, 6)
	scores := func(ck int64, probs map[string]float64) {
		t.Helper()
		var rows []store.ScoreRow
		for name, p := range probs {
			rows = append(rows, store.ScoreRow{Upload: id[name], LensProb: p})
		}
		if err := s.st.PutScores(ctx, ck, rows); err != nil {
			t.Fatal(err)
		}
	}
	// Round 1 ranks u0..u5 in order; u6, uploaded once round 2's model is
	// the default, it never scored.
	scores(ck1.ID, map[string]float64{"u0.npy": 0.9, "u1.npy": 0.8, "u2.npy": 0.7, "u3.npy": 0.6, "u4.npy": 0.3, "u5.npy": 0.1})
	ds, _ := s.st.Datasets(ctx)
	ck2 := finishedClassifier(t, s, ds[0].ID, "ft2", "beef")
	if err := s.st.PromoteModel(ctx, ck2.ID, "ann"); err != nil {
		t.Fatal(err)
	}
	upload(6, 7)
	// Round 2: u4 1, u0 2, u2 3, u6 4, u1 5, u3 6, u5 7.
	scores(ck2.ID, map[string]float64{"u4.npy": 0.95, "u0.npy": 0.9, "u2.npy": 0.7, "u6.npy": 0.5, "u1.npy": 0.4, "u3.npy": 0.2, "u5.npy": 0.05})
	for name, g := range map[string]string{"u4.npy": "A", "u0.npy": "B", "u1.npy": "0"} {
		if _, err := s.Grade(ctx, "ann", id[name], shared.GradeRequest{Grade: g}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := s.Rounds(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var r1, r2 *shared.Round
	for i := range rs.Rounds {
		switch rs.Rounds[i].Checkpoint {
		case ck1.ID:
			r1 = &rs.Rounds[i]
		case ck2.ID:
			r2 = &rs.Rounds[i]
		}
	}
	if r1 == nil || r2 == nil || rs.Rounds[len(rs.Rounds)-1].Checkpoint != ck2.ID {
		t.Fatalf("rounds %+v: want ck %d then ck %d last", rs.Rounds, ck1.ID, ck2.ID)
	}
	if p := r1.Purity; p.Graded != 2 || p.Lenses != 1 || p.Purity != 0.5 || p.Missed != 1 || len(r1.NewInTop) != 0 {
		t.Errorf("round 1: purity %+v, new %+v", p, r1.NewInTop)
	}
	if p := r2.Purity; p.Graded != 2 || p.Lenses != 2 || p.Purity != 1 || p.Missed != 0 {
		t.Errorf("round 2: purity %+v", p)
	}
	if len(r2.NewInTop) != 1 || r2.NewInTop[0] != (shared.RoundCandidate{Upload: id["u4.npy"], Name: "u4.npy", Rank: 1, PrevRank: 5, Consensus: "A"}) {
		t.Errorf("round 2 new in the top 2: %+v", r2.NewInTop)
	}
	if len(r2.Movers) < 2 || r2.Movers[0].Upload != id["u4.npy"] || r2.Movers[1].Upload != id["u1.npy"] || r2.Movers[1].Rank != 5 || r2.Movers[1].PrevRank != 2 {
		t.Errorf("round 2 movers %+v", r2.Movers)
	}
	next, ok, err := s.NextToGrade(ctx, "bob", ck2.ID)
	if err != nil || !ok || next.ID != id["u6.npy"] {
		t.Fatalf("bob's first %s (%v, %v), want u6.npy, which round 2 brought into the top", next.Name, ok, err)
	}
	if _, err := s.Grade(ctx, "bob", next.ID, shared.GradeRequest{Grade: "C"}); err != nil {
		t.Fatal(err)
	}
	if next, ok, err = s.NextToGrade(ctx, "bob", ck2.ID); err != nil || !ok || next.ID != id["u1.npy"] {
		t.Errorf("bob's second %s (%v, %v), want u1.npy (P 0.4, the least sure)", next.Name, ok, err)
	}
	if _, err := s.Rounds(ctx, 0); err == nil {
		t.Error("rounds at depth 0")
	}
}
