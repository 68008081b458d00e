package uploads

import (
	"math"
	"strings"
	"testing"

	"github.com/sslens/sslens/shared"
)

func grades(gs ...string) []shared.Grade {
	out := make([]shared.Grade, len(gs))
	for i, g := range gs {
		out[i] = shared.Grade{Grade: g}
	}
	return out
}

func TestConsensusOf(t *testing.T) {
	for _, tc := range []struct {
		gs     []string
		mean   float64
		spread float64
		class  string
	}{
		{[]string{"A", "B", "C"}, 2, math.Sqrt(2.0 / 3), "B"},
		{[]string{"A", "A", "B"}, 8.0 / 3, math.Sqrt(2.0 / 9), "A"},
		{[]string{"C", "0"}, 0.5, 0.5, "C"},
		{[]string{"0"}, 0, 0, "0"},
	} {
		c := ConsensusOf(grades(tc.gs...))
		if c == nil || c.Graders != len(tc.gs) || math.Abs(c.Mean-tc.mean) > 1e-12 || math.Abs(c.Spread-tc.spread) > 1e-12 || c.Class != tc.class {
			t.Errorf("%v: %+v, want mean %g spread %g class %s", tc.gs, c, tc.mean, tc.spread, tc.class)
		}
	}
	if ConsensusOf(nil) != nil {
		t.Error("a consensus without grades")
	}
}

// Fleiss' kappa against a hand computation: observed agreement 3/4,
// expected (3/8)^2 + (3/8)^2 + (2/8)^2 = 11/32, kappa = 13/21.
func TestFleissKappa(t *testing.T) {
	k, used, ok := FleissKappa([][]shared.Grade{grades("A", "A"), grades("0", "0"), grades("A", "0"), grades("B", "B"), grades("C")})
	if !ok || used != 4 || math.Abs(k-13.0/21) > 1e-12 {
		t.Errorf("kappa %v over %d (%v), want 13/21 over 4", k, used, ok)
	}
	if _, _, ok := FleissKappa([][]shared.Grade{grades("A", "A")}); ok {
		t.Error("kappa of one candidate")
	}
	if _, _, ok := FleissKappa([][]shared.Grade{grades("A", "A"), grades("A", "A")}); ok {
		t.Error("kappa when every grade is the same (undefined)")
	}
}

// Two astronomers grade blind: neither sees the other's grade until they
// have graded; the queue offers what each has not graded, best first; the
// summary judges the ranking by the consensus.
func TestGradingFlow(t *testing.T) {
	s := newService(t, &stubModel{}, Limits{})
	classifier(t, s)
	ct, body := form(t, part{"a.npy", cutout(40, 1)}, part{"b.npy", cutout(40, 2)}, part{"c.npy", cutout(40, 3)})
	resp, err := s.Upload(ctx, "ann", ct, body)
	if err != nil || len(resp.Uploads) != 3 {
		t.Fatalf("upload: %+v %v", resp, err)
	}
	top := resp.Uploads[0]
	next, ok, err := s.NextToGrade(ctx, "bob", 0)
	if err != nil || !ok || next.ID != top.ID {
		t.Fatalf("bob's first candidate %+v (%v, %v), want the top one %d", next, ok, err, top.ID)
	}
	g, err := s.Grade(ctx, "ann", top.ID, shared.GradeRequest{Grade: "A", Note: "clear arc", Flags: []string{"needs spectroscopy"}})
	if err != nil || g.LensProb == nil || g.Checkpoint == 0 {
		t.Fatalf("ann's grade %+v, %v: want the model's score recorded", g, err)
	}
	v, err := s.Grades(ctx, "bob", top.ID)
	if err != nil || !v.Hidden || v.Others != nil || v.Consensus != nil {
		t.Errorf("bob sees before grading: %+v, %v", v, err)
	}
	if _, err := s.Grade(ctx, "bob", top.ID, shared.GradeRequest{Grade: "B"}); err != nil {
		t.Fatal(err)
	}
	v, _ = s.Grades(ctx, "bob", top.ID)
	if v.Mine == nil || v.Mine.Grade != "B" || len(v.Others) != 1 || v.Others[0].User != "ann" || v.Consensus == nil || v.Consensus.Class != "A" {
		t.Errorf("bob's view after grading: %+v", v)
	}
	if next, ok, _ = s.NextToGrade(ctx, "bob", 0); !ok || next.ID == top.ID {
		t.Errorf("bob's next candidate %+v, %v: not the one he graded", next, ok)
	}
	sum, err := s.GradingSummary(ctx)
	if err != nil || sum.Candidates != 3 || sum.Graded != 1 || len(sum.Purity) != 1 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if p := sum.Purity[0]; p.N != 10 || p.Graded != 1 || p.Lenses != 1 || p.Purity != 1 || p.Missed != 0 {
		t.Errorf("purity %+v", p)
	}
	line := GradingLine(sum)
	for _, want := range []string{"1 of 3 candidates graded", "purity at 10: 1 of 1 graded are A or B (0 A or B ranked below)"} {
		if !strings.Contains(line, want) {
			t.Errorf("grading line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "kappa") {
		t.Errorf("kappa with one candidate graded twice: %q", line)
	}
	if _, err := s.Grade(ctx, "ann", 999, shared.GradeRequest{Grade: "A"}); err == nil {
		t.Error("grading a missing upload")
	}
}
