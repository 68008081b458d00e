package ui

import (
	"slices"
	"strings"
	"testing"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/shared"
)

// The survey form offers the classifiers with the default model chosen,
// refuses paths outside the data folder and a bad shard count before
// asking the server, shows the server's refusal by field, and sends the
// paths and lists line by line.
func TestLaunchSurveyForm(t *testing.T) {
	env, posted, _ := importAPI(t)
	l := &Launch{page: page{env: env}}
	disp := open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })
	if l.survey.checkpoint != 9 || len(l.survey.classifiers) != 1 {
		t.Fatalf("classifier %d of %+v, want the default model 9", l.survey.checkpoint, l.survey.classifiers)
	}
	mustContain(t, htmlOf(l), `id="survey-form"`, `id="s-checkpoint"`, "sup · vit_nano · best epoch 3<")
	submit := func(paths, lists, shards string) {
		t.Helper()
		disp.Dispatch(app.Dispatch{Source: l, Function: func(ctx app.Context) {
			l.survey.paths, l.survey.lists, l.survey.shards = paths, lists, shards
			l.submitSurvey(ctx)
		}})
		disp.Consume()
		settle(t, disp, func() bool { return !l.survey.busy })
	}
	for _, bad := range []struct{ paths, lists, shards, key, want string }{
		{"", "", "", "survey.paths", "give a folder"},
		{"/srv/hsc", "", "", "survey.paths", "absolute path"},
		{"hsc", "../lists/all.txt", "", "survey.lists", `contains ".."`},
		{"hsc", "", "two", "survey.shards", "want a whole number"},
	} {
		submit(bad.paths, bad.lists, bad.shards)
		if len(l.survey.errs) != 1 || l.survey.errs[0].Key != bad.key || !strings.Contains(l.survey.errs[0].Message, bad.want) {
			t.Errorf("%q %q %q: errors %+v", bad.paths, bad.lists, bad.shards, l.survey.errs)
		}
	}
	if n := len(posted()); n != 0 {
		t.Fatalf("%d requests sent for forms refused before sending", n)
	}
	submit("hsc/missing", "", "")
	mustContain(t, htmlOf(l), `data-key="survey.paths"`, "no hsc/missing in the data folder")

	submit(" hsc/pdr3 \n\n hsc/extra/*.fits", "hsc/candidates.txt\n", "8")
	reqs := posted()
	if len(reqs) != 2 || len(l.survey.errs) != 0 {
		t.Fatalf("requests %+v, errors %+v", reqs, l.survey.errs)
	}
	r := reqs[1]
	if r.Kind != shared.KindSurvey || r.Checkpoint != 9 || r.Survey == nil || r.Survey.Shards != 8 ||
		!slices.Equal(r.Survey.Paths, []string{"hsc/pdr3", "hsc/extra/*.fits"}) || !slices.Equal(r.Survey.Lists, []string{"hsc/candidates.txt"}) {
		t.Errorf("request %+v (survey %+v)", r, r.Survey)
	}
	if strings.Contains(htmlOf(l), `id="s-device"`) || r.Survey.Device != "" {
		t.Errorf("a server without GPUs offers the device (request device %q)", r.Survey.Device)
	}

	// Where the server has GPUs the form offers them.
	env, posted, _ = importAPI(t)
	env.sess.GPUs = 2
	l = &Launch{page: page{env: env}}
	disp = open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })
	mustContain(t, htmlOf(l), `id="s-device"`)
	l.survey.device = "cuda"
	submit("hsc/pdr3", "", "")
	if reqs := posted(); len(reqs) != 1 || reqs[0].Survey.Device != "cuda" {
		t.Errorf("requests %+v", reqs)
	}
}

// A survey's progress reads in files with its rate and the time left.
func TestProgressRateAndTimeLeft(t *testing.T) {
	p := &shared.Progress{Done: 1200, Total: 100000, Unit: "files", Fraction: 0.012, Rate: 231.4, SecondsLeft: 427}
	mustContain(t, htmlOf(progressBar(p)), "1200 / 100000 files · 231 files/s · 7m 07s left")
}
