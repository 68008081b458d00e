package ui

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/shared"
)

// dataForm is the launch page's form to import survey cutouts as a
// dataset (run kind import-data): a folder or archive already in the data
// folder, or an archive sent from this computer first.
type dataForm struct {
	name    string
	source  string  // relative to the data folder
	archive string  // the chosen file's name; "" when none
	sent    float64 // fraction of the archive sent
	seed    string  // as typed
	splits  string  // as typed, "train,val,test"; empty: the reference's
	zAsI    bool
	formState
}

// datasetName is what a dataset's name may be (the server's rule).
var datasetName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// request is the import the form describes once its archive (if any) is
// stored at source, or the field errors found before asking the server
// (which checks that the source exists).
func (f *dataForm) request(source string) (shared.CreateDatasetRequest, []shared.FieldError) {
	name := strings.TrimSpace(f.name)
	im := shared.ImportDataRequest{Source: source, ZAsI: f.zAsI}
	var errs []shared.FieldError
	if !datasetName.MatchString(name) {
		errs = append(errs, shared.FieldError{Key: "name", Message: fmt.Sprintf("%q: want 1 to 64 letters, digits, '-' or '_'", name)})
	}
	switch {
	case f.archive == "" && source == "":
		errs = append(errs, shared.FieldError{Key: "import.source", Message: "give a folder or archive in the data folder, or choose an archive to send"})
	case f.archive == "":
		if err := shared.CheckPath(source); err != nil {
			errs = append(errs, shared.FieldError{Key: "import.source", Message: err.Error()})
		}
	}
	if s := strings.TrimSpace(f.seed); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			errs = append(errs, shared.FieldError{Key: "import.seed", Message: strconv.Quote(s) + ": want a whole number"})
		}
		im.Seed = n
	}
	if s := strings.TrimSpace(f.splits); s != "" {
		parts := strings.Split(s, ",")
		for _, p := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || v < 0 {
				im.Splits = nil
				break
			}
			im.Splits = append(im.Splits, v)
		}
		if len(parts) != 3 || len(im.Splits) != 3 || im.Splits[0] <= 0 {
			errs = append(errs, shared.FieldError{Key: "import.splits", Message: strconv.Quote(s) + ": want three shares train,val,test, the train share positive"})
		}
	}
	return shared.CreateDatasetRequest{Name: name, Import: &im}, errs
}

func (l *Launch) onImportData(ctx app.Context, e app.Event) {
	e.PreventDefault()
	l.submitData(ctx)
}

// submitData checks the form, sends the chosen archive (if any), then
// queues the import.
func (l *Launch) submitData(ctx app.Context) {
	f := &l.data
	if f.busy {
		return
	}
	if _, errs := f.request(strings.TrimSpace(f.source)); len(errs) > 0 {
		f.errs = errs
		return
	}
	f.busy, f.errs = true, nil
	if f.archive == "" {
		l.createDataset(ctx, strings.TrimSpace(f.source))
		return
	}
	file := app.Window().GetElementByID("d-archive").Get("files").Index(0)
	path := "/api/datasets/archives?name=" + url.QueryEscape(f.archive)
	postWithProgress(path, file, l.env.API.CSRF(), func(frac float64) {
		ctx.Dispatch(func(ctx app.Context) { f.sent = frac })
	}, func(status int, body string) {
		ctx.Dispatch(func(ctx app.Context) {
			var up shared.ArchiveUpload
			if status != 201 || json.Unmarshal([]byte(body), &up) != nil {
				f.busy = false
				f.errs = []shared.FieldError{{Key: "archive", Message: archiveError(status, body)}}
				return
			}
			l.createDataset(ctx, up.Path)
		})
	})
}

// archiveError words a failed archive upload.
func archiveError(status int, body string) string {
	var e shared.Error
	if status == 0 {
		return "the archive could not be sent (connection lost?)"
	}
	if json.Unmarshal([]byte(body), &e) == nil && e.Err.Message != "" {
		if len(e.Err.Fields) > 0 {
			return e.Err.Fields[0].Message
		}
		return e.Err.Message
	}
	return fmt.Sprintf("the server answered %d", status)
}

// createDataset queues the import of source and opens its run page.
func (l *Launch) createDataset(ctx app.Context, source string) {
	f := &l.data
	req, errs := f.request(source)
	if len(errs) > 0 {
		f.busy, f.errs = false, errs
		return
	}
	l.queueDataset(ctx, req, &f.formState)
}

// queueDataset asks for the dataset, then opens the run that builds it;
// field errors show on the form f.
func (l *Launch) queueDataset(ctx app.Context, req shared.CreateDatasetRequest, f *formState) {
	l.queue(ctx, func() (shared.Run, error) { return l.env.API.CreateDataset(ctx, req) },
		func() { f.busy = false }, func(fe []shared.FieldError) { f.errs = fe })
}

// dataCard draws the import form.
func (l *Launch) dataCard() app.UI {
	f := &l.data
	label := "Import the cutouts"
	switch {
	case f.busy && f.archive != "" && f.sent < 1:
		label = fmt.Sprintf("Sending… %.0f%%", 100*f.sent)
	case f.busy:
		label = "Queuing…"
	}
	return app.Form().Class("card launch-form").ID("data-form").OnSubmit(l.on(l.onImportData)).Body(
		app.H2().ID("h-data").Text("Import a dataset"),
		app.P().Class("muted").Text("Survey cutouts (.npy, FITS, .fits.gz, PNG) become a dataset to browse, pretrain and fine-tune on. "+
			"Files under lenses/ and nonlenses/ folders are labelled; without such folders the dataset is unlabelled, for pretraining. "+
			"Bad files and duplicates are listed in the run's report, not fatal; neighbours on the sky stay in one split."),
		app.Div().Class("form-grid").Body(
			app.Div().Class("field").Body(
				app.Label().For("d-name").Text("Dataset name"),
				app.Input().ID("d-name").Placeholder("e.g. hsc-pdr3-candidates").Value(f.name).OnInput(l.ValueTo(&f.name)),
				fieldError(f.errs, "name"),
			),
			app.Div().Class("field").Body(
				app.Label().For("d-source").Text("Folder or archive in the data folder"),
				app.Input().ID("d-source").Placeholder("surveys/hsc-wide or surveys/grades.zip").Value(f.source).Disabled(f.archive != "").OnInput(l.ValueTo(&f.source)),
				fieldError(f.errs, "import.source"),
			),
			app.Div().Class("field").Body(
				app.Label().For("d-archive").Text("…or an archive from this computer (.zip, .tar, .tar.gz, .tgz)"),
				app.Input().ID("d-archive").Type("file").Accept(".zip,.tar,.gz,.tgz").OnChange(func(ctx app.Context, e app.Event) {
					files := ctx.JSSrc().Get("files")
					f.archive = ""
					if files.Length() > 0 {
						f.archive = files.Index(0).Get("name").String()
					}
					f.errs = removeKey(removeKey(f.errs, "archive"), "import.source")
				}),
				fieldError(f.errs, "archive"),
			),
			app.Div().Class("field").Body(
				app.Label().For("d-seed").Text("Seed of the splits (optional)"),
				app.Input().ID("d-seed").Type("number").Min(0).Placeholder("0").Value(f.seed).OnInput(l.ValueTo(&f.seed)),
				fieldError(f.errs, "import.seed"),
			),
			app.Div().Class("field").Body(
				app.Label().For("d-splits").Text("Train, val, test shares (optional)"),
				app.Input().ID("d-splits").Placeholder("0.765,0.085,0.15").Value(f.splits).OnInput(l.ValueTo(&f.splits)),
				fieldError(f.errs, "import.splits"),
				fieldError(f.errs, "import.group_radius"),
			),
			app.Div().Class("field check").Body(
				app.Label().Body(
					app.Input().Type("checkbox").ID("d-zasi").Checked(f.zAsI).OnChange(func(ctx app.Context, e app.Event) { f.zAsI = ctx.JSSrc().Get("checked").Bool() }),
					app.Text(" Read a z band as i (Legacy Surveys g, r, z cutouts)"),
				),
			),
		),
		app.Div().Class("actions").Body(
			app.Button().Type("submit").ID("import-data").Class("button").Disabled(f.busy).Text(label),
		),
	)
}

// gradedForm is the launch page's form to make a labelled dataset from the
// graders' consensus (CreateDatasetRequest.FromGrades).
type gradedForm struct {
	name       string
	lensC      bool   // take consensus C as lenses too (A and B always)
	minLens    string // as typed; empty: 1
	minNonLens string // as typed; empty: 2
	seed       string
	formState
}

// request is the dataset the form describes, or the field errors found
// before asking the server (which counts what the rule selects).
func (f *gradedForm) request() (shared.CreateDatasetRequest, []shared.FieldError) {
	name := strings.TrimSpace(f.name)
	rule := shared.GradedSetRequest{LensClasses: []string{shared.GradeA, shared.GradeB}}
	if f.lensC {
		rule.LensClasses = append(rule.LensClasses, shared.GradeC)
	}
	var errs []shared.FieldError
	if !datasetName.MatchString(name) {
		errs = append(errs, shared.FieldError{Key: "name", Message: fmt.Sprintf("%q: want 1 to 64 letters, digits, '-' or '_'", name)})
	}
	for _, n := range []struct {
		text, key string
		to        *int
	}{{f.minLens, "from_grades.min_lens_graders", &rule.MinLensGraders}, {f.minNonLens, "from_grades.min_nonlens_graders", &rule.MinNonLensGraders}} {
		if s := strings.TrimSpace(n.text); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 {
				errs = append(errs, shared.FieldError{Key: n.key, Message: strconv.Quote(s) + ": want a whole number of graders, 1 or more"})
			}
			*n.to = v
		}
	}
	req := shared.CreateDatasetRequest{Name: name, FromGrades: &rule}
	if s := strings.TrimSpace(f.seed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			errs = append(errs, shared.FieldError{Key: "seed", Message: strconv.Quote(s) + ": want a whole number"})
		}
		req.Seed = v
	}
	return req, errs
}

func (l *Launch) onGraded(ctx app.Context, e app.Event) {
	e.PreventDefault()
	l.submitGraded(ctx)
}

// submitGraded queues the graded dataset's import and opens its run page.
func (l *Launch) submitGraded(ctx app.Context) {
	f := &l.graded
	if f.busy {
		return
	}
	req, errs := f.request()
	if f.errs = errs; len(errs) > 0 {
		return
	}
	f.busy = true
	l.queueDataset(ctx, req, &f.formState)
}

// gradedCard draws the graded-set form.
func (l *Launch) gradedCard() app.UI {
	f := &l.graded
	label := "Make the training set"
	if f.busy {
		label = "Queuing…"
	}
	return app.Form().Class("card launch-form").ID("graded-form").OnSubmit(l.on(l.onGraded)).Body(
		app.H2().ID("h-graded").Text("Training set from the grades"),
		app.P().Class("muted").Text("Candidates whose consensus is A or B become lenses, those graded 0 by enough graders non-lenses; "+
			"C and candidates with too few graders are left out. The rule, who made the set and every grade behind each label are kept "+
			"with the dataset (provenance.json). Fine-tune on it, alone or beside other datasets."),
		app.Div().Class("form-grid").Body(
			app.Div().Class("field").Body(
				app.Label().For("g-name").Text("Dataset name"),
				app.Input().ID("g-name").Placeholder("e.g. graded-round-1").Value(f.name).OnInput(l.ValueTo(&f.name)),
				fieldError(f.errs, "name"),
				fieldError(f.errs, "from_grades"),
			),
			app.Div().Class("field").Body(
				app.Label().For("g-minlens").Text("Graders a lens needs (default 1)"),
				app.Input().ID("g-minlens").Type("number").Min(1).Placeholder("1").Value(f.minLens).OnInput(l.ValueTo(&f.minLens)),
				fieldError(f.errs, "from_grades.min_lens_graders"),
			),
			app.Div().Class("field").Body(
				app.Label().For("g-minnon").Text("Graders of 0 a non-lens needs (default 2)"),
				app.Input().ID("g-minnon").Type("number").Min(1).Placeholder("2").Value(f.minNonLens).OnInput(l.ValueTo(&f.minNonLens)),
				fieldError(f.errs, "from_grades.min_nonlens_graders"),
			),
			app.Div().Class("field").Body(
				app.Label().For("g-seed").Text("Seed of the splits (optional)"),
				app.Input().ID("g-seed").Type("number").Min(0).Placeholder("0").Value(f.seed).OnInput(l.ValueTo(&f.seed)),
				fieldError(f.errs, "seed"),
			),
			app.Div().Class("field check").Body(
				app.Label().Body(
					app.Input().Type("checkbox").ID("g-lensc").Checked(f.lensC).OnChange(func(ctx app.Context, e app.Event) { f.lensC = ctx.JSSrc().Get("checked").Bool() }),
					app.Text(" Count consensus C as lenses too"),
				),
				fieldError(f.errs, "from_grades.lens_classes"),
			),
		),
		app.Div().Class("actions").Body(
			app.Button().Type("submit").ID("make-graded").Class("button").Disabled(f.busy).Text(label),
		),
	)
}
