package shared

import (
	"encoding/json"
	"strings"
	"testing"
)

// The app decodes these names; API.md documents them.
func TestResultsWireForm(t *testing.T) {
	res := Results{
		Rows: []ResultRow{},
		Reproductions: []Reproduction{{Run: 7, Labels: []string{"300"},
			Rows: []ReproduceRow{{Method: "dino", Backbone: "vit_nano", Labels: "300",
				AUC: Spread{Mean: 0.9, CI: Interval{Lo: 0.85, Hi: 0.95}}, Seeds: []ReproduceSeed{{Seed: 1, AUC: 0.9}}}},
			Comparisons: []Comparison{{Method: "dino", Labels: "300", AUCDiff: Diff{Diff: 0.01, CI: Interval{Lo: -0.02, Hi: 0.04}},
				Overlap: true, Verdict: VerdictNotDistinguished}}}},
		Reference: &Reference{Caveat: "optimistic", Rows: []ReferenceRow{{Method: "dino", Backbone: "vit_small", Labels: 300, Accuracy: 0.91, AUC: 0.97}}},
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"reproductions":[{"run":7,`, `"auc":{"mean":0.9,"std":0,"min":0,"max":0,"ci":{"lo":0.85,"hi":0.95}}`,
		`"seeds":[{"seed":1,"accuracy":0,"auc":0.9}]`, `"auc_diff":{"diff":0.01,"ci":{"lo":-0.02,"hi":0.04}}`,
		`"auc_intervals_overlap":true`, `"verdict":"not distinguished"`,
		`"reference":{"source":"","caveat":"optimistic","rows":[{"method":"dino","backbone":"vit_small","labels":300,"accuracy":0.91,"auc":0.97}]}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("wire form lacks %s:\n%s", want, b)
		}
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Reproductions[0].Comparisons[0].Verdict; got != VerdictNotDistinguished {
		t.Errorf("verdict after a round trip = %q", got)
	}
}
