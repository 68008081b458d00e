package ui

import (
	"slices"
	"strings"
	"testing"

	"github.com/maxence-charriere/go-app/v9/pkg/app"
)

// The dataset import form refuses a bad name, a path outside the data
// folder and bad split shares before asking the server, shows the
// server's refusal by field, and sends the choices.
func TestLaunchDataForm(t *testing.T) {
	env, _, posted := importAPI(t)
	l := &Launch{page: page{env: env}}
	disp := open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })
	mustContain(t, htmlOf(l), `id="data-form"`, "Import a dataset", `id="d-archive"`)
	submit := func(name, source, seed, splits string) {
		t.Helper()
		disp.Dispatch(app.Dispatch{Source: l, Function: func(ctx app.Context) {
			l.data.name, l.data.source, l.data.seed, l.data.splits = name, source, seed, splits
			l.submitData(ctx)
		}})
		disp.Consume()
		settle(t, disp, func() bool { return !l.data.busy })
	}
	for _, bad := range []struct{ name, source, seed, splits, key, want string }{
		{"hsc wide", "surveys/hsc", "", "", "name", "want 1 to 64 letters"},
		{"hsc", "", "", "", "import.source", "give a folder or archive"},
		{"hsc", "/srv/hsc", "", "", "import.source", "absolute path"},
		{"hsc", "surveys/hsc", "x", "", "import.seed", "want a whole number"},
		{"hsc", "surveys/hsc", "", "0.8,0.2", "import.splits", "want three shares"},
		{"hsc", "surveys/hsc", "", "0,0.5,0.5", "import.splits", "the train share positive"},
	} {
		submit(bad.name, bad.source, bad.seed, bad.splits)
		if len(l.data.errs) != 1 || l.data.errs[0].Key != bad.key || !strings.Contains(l.data.errs[0].Message, bad.want) {
			t.Errorf("%+v: errors %+v", bad, l.data.errs)
		}
	}
	if n := len(posted()); n != 0 {
		t.Fatalf("%d requests sent for forms refused before sending", n)
	}
	submit("hsc", "surveys/missing", "", "")
	mustContain(t, htmlOf(l), `data-key="import.source"`, "no surveys/missing in the data folder")

	submit(" hsc-wide ", " surveys/hsc ", "3", "0.8, 0.1, 0.1")
	reqs := posted()
	if len(reqs) != 2 || len(l.data.errs) != 0 {
		t.Fatalf("requests %+v, errors %+v", reqs, l.data.errs)
	}
	if r := reqs[1]; r.Name != "hsc-wide" || r.Import == nil || r.Import.Source != "surveys/hsc" || r.Import.Seed != 3 ||
		!slices.Equal(r.Import.Splits, []float64{0.8, 0.1, 0.1}) || r.Survey != "" {
		t.Errorf("request %+v (import %+v)", r, r.Import)
	}
}

// The graded-set form refuses bad counts before asking the server and
// sends the rule.
func TestLaunchGradedForm(t *testing.T) {
	env, _, posted := importAPI(t)
	l := &Launch{page: page{env: env}}
	disp := open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })
	mustContain(t, htmlOf(l), `id="graded-form"`, "Training set from the grades")
	submit := func(name, minLens string, lensC bool) {
		t.Helper()
		disp.Dispatch(app.Dispatch{Source: l, Function: func(ctx app.Context) {
			l.graded.name, l.graded.minLens, l.graded.minNonLens, l.graded.lensC = name, minLens, "3", lensC
			l.submitGraded(ctx)
		}})
		disp.Consume()
		settle(t, disp, func() bool { return !l.graded.busy })
	}
	submit("round 1", "", false)
	submit("round-1", "0", false)
	if n := len(posted()); n != 0 || len(l.graded.errs) != 1 || l.graded.errs[0].Key != "from_grades.min_lens_graders" {
		t.Fatalf("%d requests, errors %+v", n, l.graded.errs)
	}
	submit("round-1", "2", true)
	reqs := posted()
	if len(reqs) != 1 || reqs[0].FromGrades == nil {
		t.Fatalf("requests %+v", reqs)
	}
	if r := reqs[0].FromGrades; !slices.Equal(r.LensClasses, []string{"A", "B", "C"}) || r.MinLensGraders != 2 || r.MinNonLensGraders != 3 {
		t.Errorf("rule %+v", r)
	}
}
