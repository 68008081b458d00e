package uploads

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// GradedCandidate is one candidate a graded training set takes.
type GradedCandidate struct {
	Upload    int64            `json:"upload"`
	SHA256    string           `json:"sha256"`
	Name      string           `json:"name"`
	Path      string           `json:"path"`  // the stored file, relative to the data folder
	Class     string           `json:"class"` // lenses or nonlenses
	Consensus shared.Consensus `json:"consensus"`
	Grades    []shared.Grade   `json:"grades"`
}

// GradedSet is a training set made from the grades, and its provenance:
// the rule, when and by whom, every grade behind each label, and how many
// graded candidates were left out and why.
type GradedSet struct {
	Rule       shared.GradedSetRequest `json:"rule"`
	Made       time.Time               `json:"made"`
	By         string                  `json:"by"`
	Lenses     int                     `json:"lenses"`
	NonLenses  int                     `json:"nonlenses"`
	LeftOut    map[string]int          `json:"left_out"` // by reason
	Candidates []GradedCandidate       `json:"candidates"`
}

// CheckGradedRule refuses a rule that cannot select: lens classes other
// than A, B and C, or a minimum below 1 (after the defaults).
func CheckGradedRule(r shared.GradedSetRequest) error {
	r = r.WithDefaults()
	for _, c := range r.LensClasses {
		if c != shared.GradeA && c != shared.GradeB && c != shared.GradeC {
			return shared.FieldErrorf("from_grades.lens_classes", "%q: want A, B or C", c)
		}
	}
	if r.MinLensGraders < 1 || r.MinNonLensGraders < 1 {
		return shared.FieldErrorf("from_grades.min_lens_graders", "%d and %d graders: want at least 1", r.MinLensGraders, r.MinNonLensGraders)
	}
	return nil
}

// GradedSet selects the training labels the rule gives from every valid
// candidate's grades, one entry per content (uploads of the same bytes
// share their grades), oldest upload first.
func (s *Service) GradedSet(ctx context.Context, user string, rule shared.GradedSetRequest) (GradedSet, error) {
	if err := CheckGradedRule(rule); err != nil {
		return GradedSet{}, err
	}
	rule = rule.WithDefaults()
	ups, err := s.st.Uploads(ctx, store.UploadFilter{})
	if err != nil {
		return GradedSet{}, err
	}
	slices.SortFunc(ups, func(a, b store.Upload) int { return cmp.Compare(a.ID, b.ID) })
	ids := make([]int64, len(ups))
	for i, u := range ups {
		ids[i] = u.ID
	}
	grades, err := s.st.Grades(ctx, ids)
	if err != nil {
		return GradedSet{}, err
	}
	set := GradedSet{Rule: rule, Made: time.Now().UTC(), By: user, LeftOut: map[string]int{}, Candidates: []GradedCandidate{}}
	seen := map[string]bool{}
	for _, u := range ups {
		if seen[u.SHA256] {
			continue
		}
		seen[u.SHA256] = true
		gs := grades[u.ID]
		c := ConsensusOf(gs)
		if c == nil {
			set.LeftOut["ungraded"]++
			continue
		}
		zeros := 0
		for _, g := range gs {
			if g.Grade == shared.GradeNone {
				zeros++
			}
		}
		class := ""
		switch {
		case slices.Contains(rule.LensClasses, c.Class) && c.Graders >= rule.MinLensGraders:
			class = layout.LensDir
			set.Lenses++
		case c.Class == shared.GradeNone && zeros >= rule.MinNonLensGraders:
			class = layout.NonLensDir
			set.NonLenses++
		case slices.Contains(rule.LensClasses, c.Class):
			set.LeftOut[fmt.Sprintf("consensus %s from fewer than %d graders", c.Class, rule.MinLensGraders)]++
		case c.Class == shared.GradeNone:
			set.LeftOut[fmt.Sprintf("graded 0 by fewer than %d graders", rule.MinNonLensGraders)]++
		default:
			set.LeftOut["consensus "+c.Class]++
		}
		if class != "" {
			set.Candidates = append(set.Candidates, GradedCandidate{Upload: u.ID, SHA256: u.SHA256, Name: u.Name, Path: u.Path,
				Class: class, Consensus: *c, Grades: gs})
		}
	}
	return set, nil
}
