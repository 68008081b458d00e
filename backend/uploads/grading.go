package uploads

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Grading: each user grades candidates independently (A, B, C or 0, a
// note, flags); a candidate's grades are summed up into a consensus, the
// set's agreement into Fleiss' kappa, and the default model's ranking is
// judged by the consensus (purity at N).

// gradeValues are the grades on the scale consensus means are taken on.
var gradeValues = map[string]float64{shared.GradeA: 3, shared.GradeB: 2, shared.GradeC: 1, shared.GradeNone: 0}

// purityDepths are the depths N at which the ranking's purity is given.
var purityDepths = []int{10, 20, 50, 100}

// ConsensusOf sums up a candidate's grades (see shared.Consensus); nil
// without any.
func ConsensusOf(gs []shared.Grade) *shared.Consensus {
	if len(gs) == 0 {
		return nil
	}
	var sum, sum2 float64
	for _, g := range gs {
		v := gradeValues[g.Grade]
		sum += v
		sum2 += v * v
	}
	n := float64(len(gs))
	mean := sum / n
	c := &shared.Consensus{Graders: len(gs), Mean: mean, Spread: math.Sqrt(max(sum2/n-mean*mean, 0))}
	switch {
	case mean >= 2.5:
		c.Class = shared.GradeA
	case mean >= 1.5:
		c.Class = shared.GradeB
	case mean >= 0.5:
		c.Class = shared.GradeC
	default:
		c.Class = shared.GradeNone
	}
	return c
}

// FleissKappa is Fleiss' kappa of the candidates with two or more grades
// (ok is false with fewer than two such, or when every grade is the same
// category, where kappa is undefined): the observed agreement beyond that
// expected from the grades' overall frequencies. Candidates may have
// different numbers of graders: each contributes its own agreement
// (sum_j n_j (n_j - 1)) / (n (n - 1)).
func FleissKappa(candidates [][]shared.Grade) (kappa float64, used int, ok bool) {
	var agree float64
	counts := map[string]float64{}
	total := 0.0
	for _, gs := range candidates {
		n := float64(len(gs))
		if n < 2 {
			continue
		}
		per := map[string]float64{}
		for _, g := range gs {
			per[g.Grade]++
			counts[g.Grade]++
		}
		a := 0.0
		for _, k := range per {
			a += k * (k - 1)
		}
		agree += a / (n * (n - 1))
		total += n
		used++
	}
	if used < 2 {
		return 0, used, false
	}
	observed := agree / float64(used)
	expected := 0.0
	for _, k := range counts {
		expected += (k / total) * (k / total)
	}
	if expected >= 1 {
		return 0, used, false
	}
	return (observed - expected) / (1 - expected), used, true
}

// Grade records user's grade of upload id, with the default model's score
// of it at this moment.
func (s *Service) Grade(ctx context.Context, user string, id int64, req shared.GradeRequest) (shared.Grade, error) {
	u, err := s.Get(ctx, id, 0)
	if err != nil {
		return shared.Grade{}, err
	}
	g := shared.Grade{Upload: id, User: user, Grade: req.Grade, Note: req.Note, Flags: req.Flags}
	if sc := u.Score; sc != nil {
		p := sc.LensProb
		g.LensProb, g.Checkpoint = &p, sc.Checkpoint
	}
	return s.st.SetGrade(ctx, g)
}

// Grades returns what viewer may see of upload id's grades: their own, and
// the others' with the consensus once they have graded it (or always, with
// open grading).
func (s *Service) Grades(ctx context.Context, viewer string, id int64) (shared.GradesView, error) {
	if _, _, err := s.Stored(ctx, id); err != nil {
		return shared.GradesView{}, err
	}
	all, err := s.st.Grades(ctx, []int64{id})
	if err != nil {
		return shared.GradesView{}, err
	}
	var v shared.GradesView
	for _, g := range all[id] {
		if g.User == viewer {
			v.Mine = &g
		} else {
			v.Others = append(v.Others, g)
		}
	}
	if v.Mine == nil && !s.open {
		return shared.GradesView{Hidden: len(v.Others) > 0}, nil
	}
	v.Consensus = ConsensusOf(all[id])
	return v, nil
}

// nextDepth is the depth of the ranking the grading queue picks from
// first (see NextToGrade).
const nextDepth = 100

// NextToGrade returns the candidate viewer should grade next, by the
// ranking of checkpoint ckpt (0: the default model). Active learning: among
// the top nextDepth candidates viewer has not graded, first those the
// previous scoring round (the model that scored before this one) ranked
// below nextDepth or did not score, highest first: what retraining brought
// up; then the one the model is least sure of (P(lens) nearest 0.5), whose
// grade teaches the next round most. Below the top, the ranking's order.
// ok is false when viewer has graded every candidate.
func (s *Service) NextToGrade(ctx context.Context, viewer string, ckpt int64) (u shared.Upload, ok bool, err error) {
	ups, ck, err := s.ranked(ctx, "", ckpt)
	if err != nil {
		return shared.Upload{}, false, err
	}
	grades, err := s.st.Grades(ctx, ids(ups))
	if err != nil {
		return shared.Upload{}, false, err
	}
	ungraded := func(u shared.Upload) bool {
		return !slices.ContainsFunc(grades[u.ID], func(g shared.Grade) bool { return g.User == viewer })
	}
	var top []shared.Upload
	for _, u := range ups {
		if u.Score == nil || len(top) == nextDepth {
			break
		}
		top = append(top, u)
	}
	prevTop, err := s.previousTop(ctx, ck, ups)
	if err != nil {
		return shared.Upload{}, false, err
	}
	pick := -1
	for i, u := range top {
		if ungraded(u) && prevTop != nil && !prevTop[u.ID] {
			pick = i
			break
		}
	}
	if pick < 0 {
		least := math.Inf(1)
		for i, u := range top {
			if d := math.Abs(u.Score.LensProb - 0.5); ungraded(u) && d < least {
				pick, least = i, d
			}
		}
	}
	if pick >= 0 {
		return s.described(ctx, top[pick])
	}
	for _, u := range ups {
		if ungraded(u) {
			return s.described(ctx, u)
		}
	}
	return shared.Upload{}, false, nil
}

// described is u as Get describes it.
func (s *Service) described(ctx context.Context, u shared.Upload) (shared.Upload, bool, error) {
	one := []shared.Upload{u}
	err := s.describePositions(ctx, one, false)
	return one[0], err == nil, err
}

// previousTop is the set of ups in the top nextDepth of the scoring
// round before ck's, or nil when ck is the first (or scored nothing).
func (s *Service) previousTop(ctx context.Context, ck *store.Checkpoint, ups []shared.Upload) (map[int64]bool, error) {
	if ck == nil {
		return nil, nil
	}
	rounds, err := s.st.ScoringRounds(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(rounds, func(r store.ScoringRound) bool { return r.Checkpoint == ck.ID })
	if i <= 0 {
		return nil, nil
	}
	rank, _, err := s.ranks(ctx, candidates{ups: ups}, rounds[i-1].Checkpoint)
	if err != nil {
		return nil, err
	}
	top := map[int64]bool{}
	for id, r := range rank {
		if r <= nextDepth {
			top[id] = true
		}
	}
	return top, nil
}

// GradingSummary sums up the grading of every candidate against the
// default model's ranking.
func (s *Service) GradingSummary(ctx context.Context) (shared.GradingSummary, error) {
	ups, _, err := s.ranked(ctx, "", 0)
	if err != nil {
		return shared.GradingSummary{}, err
	}
	grades, err := s.st.Grades(ctx, ids(ups))
	if err != nil {
		return shared.GradingSummary{}, err
	}
	// Uploads of the same bytes share grades: count each content once.
	var ranked [][]shared.Grade // grades in ranking order, one entry per content
	for _, u := range onePerContent(ups) {
		ranked = append(ranked, grades[u.ID])
	}
	sum := shared.GradingSummary{Candidates: len(ranked), Purity: []shared.PurityAtN{}}
	lens := make([]bool, len(ranked))
	totalLenses := 0
	for i, gs := range ranked {
		if len(gs) > 0 {
			sum.Graded++
		}
		if c := ConsensusOf(gs); c != nil && (c.Class == shared.GradeA || c.Class == shared.GradeB) {
			lens[i] = true
			totalLenses++
		}
	}
	k, used, ok := FleissKappa(ranked)
	if ok {
		sum.Kappa = &k
	}
	sum.KappaCandidates = used
	for _, n := range purityDepths {
		if n > len(ranked) && n != purityDepths[0] {
			break
		}
		p := shared.PurityAtN{N: n}
		for i := range min(n, len(ranked)) {
			if len(ranked[i]) > 0 {
				p.Graded++
			}
			if lens[i] {
				p.Lenses++
			}
		}
		if p.Graded > 0 {
			p.Purity = float64(p.Lenses) / float64(p.Graded)
		}
		p.Missed = totalLenses - p.Lenses
		sum.Purity = append(sum.Purity, p)
	}
	return sum, nil
}

// WithGrades fills each upload's MyGrade for viewer, and its Grades and
// Consensus where viewer may see them (see Grades).
func (s *Service) WithGrades(ctx context.Context, viewer string, ups []shared.Upload) error {
	all, err := s.st.Grades(ctx, ids(ups))
	if err != nil {
		return err
	}
	for i := range ups {
		gs := all[ups[i].ID]
		for _, g := range gs {
			if g.User == viewer {
				ups[i].MyGrade = g.Grade
			}
		}
		if ups[i].MyGrade != "" || s.open {
			ups[i].Grades, ups[i].Consensus = gs, ConsensusOf(gs)
		}
	}
	return nil
}

// GradingLine sums the grading up in one line: "12 of 40 candidates
// graded; Fleiss' kappa 0.62 over 9; purity at 10: 6 of 8 graded are A or
// B (2 A or B ranked below)".
func GradingLine(g shared.GradingSummary) string {
	line := fmt.Sprintf("%d of %d candidates graded", g.Graded, g.Candidates)
	if g.Kappa != nil {
		line += fmt.Sprintf("; Fleiss' kappa %.2f over %d", *g.Kappa, g.KappaCandidates)
	}
	for _, p := range g.Purity {
		line += fmt.Sprintf("; purity at %d: %d of %d graded are A or B (%d A or B ranked below)", p.N, p.Lenses, p.Graded, p.Missed)
	}
	return line
}

// ids returns the uploads' ids.
func ids(ups []shared.Upload) []int64 {
	out := make([]int64, len(ups))
	for i, u := range ups {
		out[i] = u.ID
	}
	return out
}
