package ui

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/app/chart"
	"github.com/sslens/sslens/shared"
)

// similarK is how many nearest training images the detail view shows.
const similarK = 8

// acceptFiles are the cutout formats the server scores.
const acceptFiles = ".fits,.fit,.fts,.fits.gz,.gz,.npy,.png,.jpg,.jpeg,.zip,.csv"

// Score is where astronomers upload cutouts (drag-and-drop or a file
// picker) and see them ranked by lens probability, with each file's
// problems shown inline, a detail view with the nearest training images,
// and CSV, VOTable or FITS export.
type Score struct {
	app.Compo
	page

	models     *shared.ModelStatus
	checkpoint int64 // the model scores are shown for; 0: the default
	everyone   bool  // the table shows every user's uploads, not only the caller's
	uploads    []shared.Upload
	show       string // which rows: "" all, ungraded, graded, lenses (consensus A or B)
	order      string // "" the model's ranking, consensus: the graders' mean grade first
	zAsI       bool   // the next upload reads a z band as i (Legacy Surveys g, r, z)
	hideScores bool   // P(lens) hidden, so that grades are not anchored on it

	sending  []pendingFile
	progress float64
	last     *shared.UploadResponse
	dragging bool

	selected   int64
	detail     *shared.ImageDetail
	similar    *shared.Similar
	similarErr string
	// similarIn is the dataset whose train split the similarity search
	// looks in (0: the model's training data); datasets are the ready ones.
	similarIn int64
	datasets  []shared.Dataset

	// Grading the selected candidate: what the caller may see of its
	// grades, the note and flags of the grade being given.
	grades     *shared.GradesView
	grading    *shared.GradingSummary
	rounds     *shared.Rounds
	gradeNote  string
	gradeFlags []string
	keys       func() // removes the grading keys' listener

	// The large view of the open candidate: its band (rgb or g, r, i),
	// the composite's Lupton Q and stretch, whether it fills the window,
	// and whether it blinks through g, r and i.
	viewBand      string
	lupQ, lupSoft float64
	zoomed        bool
	blinking      bool
	blinks        int    // counts blink starts, so that a stopped blink's timer ends its chain
	layer         string // "" the image, or a display layer of the upload: mask, sigma
}

// blinkEvery is how long each band shows while the large view blinks.
const blinkEvery = 700 * time.Millisecond

// OnNav reads ?upload= (the selected row) and loads the models and the
// user's uploads on the first visit.
func (s *Score) OnNav(ctx app.Context) {
	sel, _ := strconv.ParseInt(ctx.Page().URL().Query().Get("upload"), 10, 64)
	if s.models != nil {
		s.selectUpload(ctx, sel)
		return
	}
	s.start(ctx, shared.RoleAstronomer, func(ctx app.Context) {
		ctx.Async(func() {
			ms, err := s.env.API.Models(ctx)
			var ds []shared.Dataset
			if err == nil {
				ds, err = s.env.API.Datasets(ctx)
			}
			ctx.Dispatch(func(ctx app.Context) {
				if err != nil {
					s.fail(ctx, err)
					return
				}
				s.models, s.datasets = &ms, ds
				s.loadUploads(ctx)
				s.selectUpload(ctx, sel)
			})
		})
	})
}

func (s *Score) loadUploads(ctx app.Context) {
	cp, mine := s.checkpoint, !s.everyone
	ctx.Async(func() {
		us, err := s.env.API.Uploads(ctx, cp, mine)
		var g shared.GradingSummary
		var rs shared.Rounds
		if err == nil {
			g, err = s.env.API.GradingSummary(ctx)
		}
		if err == nil {
			rs, err = s.env.API.Rounds(ctx, roundsDepth)
		}
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil {
				s.fail(ctx, err)
				return
			}
			s.uploads, s.grading, s.rounds = us, &g, &rs // ranked by the server; shown as given
			s.ready()
		})
	})
}

func (s *Score) selectUpload(ctx app.Context, id int64) {
	if id == s.selected {
		return
	}
	s.selected, s.detail, s.similar, s.similarErr = id, nil, nil, ""
	s.grades, s.gradeNote, s.gradeFlags = nil, "", nil
	if id == 0 {
		return
	}
	ready := s.models != nil && s.models.Ready
	ctx.Async(func() {
		d, err := s.env.API.UploadDetail(ctx, id)
		var gv shared.GradesView
		if err == nil {
			gv, err = s.env.API.Grades(ctx, id)
		}
		var sim shared.Similar
		var simErr error
		if err == nil && ready {
			sim, simErr = s.env.API.Similar(ctx, id, s.similarIn, similarK)
		}
		ctx.Dispatch(func(ctx app.Context) {
			if id != s.selected {
				return
			}
			if err != nil {
				s.fail(ctx, err)
				return
			}
			s.detail, s.grades = &d, &gv
			if m := gv.Mine; m != nil {
				s.gradeNote, s.gradeFlags = m.Note, m.Flags
			}
			switch {
			case !ready:
				s.similarErr = "Nearest training images need a trained model."
			case simErr != nil:
				s.similarErr = simErr.Error()
			default:
				s.similar = &sim
			}
		})
	})
}

// send uploads the files of a FileList.
func (s *Score) send(ctx app.Context, list app.Value) {
	files := filesOf(list)
	if len(files) == 0 || s.sending != nil {
		return
	}
	s.sending, s.progress, s.last = files, 0, nil
	s.notice = ""
	uploadFiles(list, s.checkpoint, s.zAsI, s.env.API.CSRF(),
		func(f float64) {
			ctx.Dispatch(func(ctx app.Context) { s.progress = f })
		},
		func(status int, body string) {
			ctx.Dispatch(func(ctx app.Context) { s.received(ctx, status, body) })
		})
}

// received handles the answer to an upload.
func (s *Score) received(ctx app.Context, status int, body string) {
	s.sending = nil
	if status == 0 {
		s.state, s.err = stateError, "The upload did not reach the server; check the connection and try again."
		return
	}
	var r shared.UploadResponse
	if err := api.Decode(status, []byte(body), &r); err != nil {
		s.fail(ctx, err)
		return
	}
	s.ready()
	s.last = &r
	s.notice = uploadSummary(r)
	s.loadUploads(ctx)
}

// uploadSummary says in one line what became of an upload.
func uploadSummary(r shared.UploadResponse) string {
	msg := fmt.Sprintf("%s accepted, %d rejected.", plural(r.Accepted, "file"), r.Rejected)
	switch r.Scoring {
	case shared.ScoringDone:
		msg += " Scored."
	case shared.ScoringNoModel:
		msg += " No model can score yet; the files are kept and can be scored later."
	case shared.ScoringFailed:
		msg += " Scoring failed: " + r.Message
	}
	return msg
}

func (s *Score) onPick(ctx app.Context, e app.Event) {
	s.send(ctx, e.Get("target").Get("files"))
	e.Get("target").Set("value", "") // picking the same files again is a new upload
}

func (s *Score) onDragOver(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if !s.dragging {
		s.dragging = true
	} else {
		ctx.PreventUpdate()
	}
}

func (s *Score) onDragLeave(ctx app.Context, e app.Event) {
	s.dragging = false
}

func (s *Score) onDrop(ctx app.Context, e app.Event) {
	e.PreventDefault()
	s.dragging = false
	s.send(ctx, e.Get("dataTransfer").Get("files"))
}

func (s *Score) onModel(ctx app.Context, e app.Event) {
	s.checkpoint, _ = strconv.ParseInt(value(e), 10, 64)
	s.uploads = nil
	s.loadUploads(ctx)
}

// onWhose shows the caller's uploads or everyone's.
func (s *Score) onWhose(ctx app.Context, e app.Event) {
	s.everyone = value(e) == "everyone"
	s.uploads = nil
	s.loadUploads(ctx)
}

// Render draws the drop zone, the upload outcome, the ranked table and
// the detail of the selected upload.
func (s *Score) Render() app.UI {
	return s.frame("score", "/score",
		app.Div().Class("page-head").Body(
			app.H1().Text("Score cutouts"),
			app.Div().Class("actions").Body(
				app.A().Class("button").ID("export-csv").Href(api.ExportURL("csv", s.checkpoint, !s.everyone)).Attr("download", "sslens-scores.csv").Text("Export CSV"),
				app.A().Class("button").ID("export-votable").Href(api.ExportURL("votable", s.checkpoint, !s.everyone)).Attr("download", "sslens-scores.vot").Text("Export VOTable"),
				app.A().Class("button").ID("export-fits").Href(api.ExportURL("fits", s.checkpoint, !s.everyone)).Attr("download", "sslens-scores.fits").Text("Export FITS"),
			),
		),
		s.modelLine(),
		s.gradingLine(),
		s.roundsCard(),
		s.dropZone(),
		app.Label().Class("check z-as-i").Body(
			app.Input().Type("checkbox").ID("z-as-i").Checked(s.zAsI).OnChange(s.on(func(ctx app.Context, e app.Event) { s.zAsI = e.Get("target").Get("checked").Bool() })),
			app.Text(" read a z band as i (g, r, z cutouts such as the Legacy Surveys'; the model was trained on g, r, i, so their scores are marked)"),
		),
		s.outcome(),
		app.Div().Class("score-layout").Body(
			s.table(),
			s.detailPanel(),
		),
	)
}

func (s *Score) modelLine() app.UI {
	m := s.models
	switch {
	case m == nil:
		return app.If(false)
	case !m.Ready:
		msg := m.Message
		if msg == "" {
			msg = "No classifier is trained yet."
		}
		return app.Div().Class("alert notice").ID("no-model").Text(msg + " Uploads are kept and validated; scores appear once a model is ready.")
	}
	opts := []option{{"0", "default model"}}
	for _, c := range m.Checkpoints {
		if c.ID == m.Default {
			opts[0].label = "default model: " + checkpointLabel(c)
			continue
		}
		opts = append(opts, option{strconv.FormatInt(c.ID, 10), checkpointLabel(c)})
	}
	other := s.checkpoint != 0 && s.checkpoint != m.Default
	whose := "mine"
	if s.everyone {
		whose = "everyone"
	}
	return app.Form().Class("filters").OnSubmit(func(ctx app.Context, e app.Event) { e.PreventDefault() }).Body(
		selectField("s-model", "Model", strconv.FormatInt(s.checkpoint, 10), opts, s.on(s.onModel)),
		selectField("s-whose", "Uploads", whose, []option{{"mine", "my uploads"}, {"everyone", "everyone's (to grade together)"}}, s.on(s.onWhose)),
		selectField("s-show", "Show", s.show, []option{{"", "all"}, {"ungraded", "not graded by me"}, {"graded", "graded by me"}, {"lenses", "consensus A or B"}},
			s.on(func(ctx app.Context, e app.Event) { s.show = value(e) })),
		selectField("s-order", "Order", s.order, []option{{"", "model ranking"}, {"consensus", "consensus (mean grade)"}},
			s.on(func(ctx app.Context, e app.Event) { s.order = value(e) })),
		app.Label().Class("check").Body(
			app.Input().Type("checkbox").ID("hide-scores").Checked(s.hideScores).OnChange(s.on(func(ctx app.Context, e app.Event) { s.hideScores = e.Get("target").Get("checked").Bool() })),
			app.Text(" hide P(lens) while grading"),
		),
		app.If(other && len(s.uploads) > 0,
			app.Button().Type("button").Class("button").ID("score-visible").Text("Score these uploads with this model").OnClick(s.on(s.onScoreVisible)),
		),
		app.If(other && s.isAdmin(),
			app.Button().Type("button").Class("button").ID("promote-model").Text("Make this the default model").OnClick(s.on(s.onPromote)),
		),
		app.If(m.PromotedBy != "", app.P().Class("muted").ID("model-promoted").Textf("Default model promoted by %s, %s.", m.PromotedBy, ago(m.Promoted, time.Now()))),
	)
}

// checkpointLabel names a checkpoint in the model menu, with its
// validation AUC when its run recorded one.
func checkpointLabel(c shared.Checkpoint) string {
	label := fmt.Sprintf("%s · %s · %s epoch %d", c.RunName, c.Preset, c.Name, c.Epoch)
	if auc, ok := c.Metrics["val_auc"]; ok {
		label += fmt.Sprintf(" · val AUC %.3f", auc)
	}
	return label
}

// onScoreVisible scores the uploads in the table with the chosen model, as
// a score-batch run; the table shows its scores once the run has finished.
func (s *Score) onScoreVisible(ctx app.Context, e app.Event) {
	rows := s.visible()
	ids := make([]int64, len(rows))
	for i, u := range rows {
		ids[i] = u.ID
	}
	req := shared.ScoreRequest{Checkpoint: s.checkpoint, Uploads: ids}
	s.act(ctx, func() (string, error) {
		r, err := s.env.API.ScoreUploads(ctx, req)
		return fmt.Sprintf("Scoring %s with this model: run %d, on the Runs page.", plural(len(ids), "upload"), r.ID), err
	})
}

// onPromote makes the chosen model the default (admins): every upload is
// re-scored with it by a score-batch run.
func (s *Score) onPromote(ctx app.Context, e app.Event) {
	ck := s.checkpoint
	s.act(ctx, func() (string, error) {
		r, err := s.env.API.PromoteModel(ctx, ck)
		if err != nil || r.Rescore == nil {
			return "This is now the default model.", err
		}
		return fmt.Sprintf("This is now the default model; every upload is being re-scored with it: run %d, on the Runs page.", r.Rescore.ID), nil
	})
}

// act runs call, shows the notice it returns and reloads the model menu,
// whose default a promotion has changed.
func (s *Score) act(ctx app.Context, call func() (string, error)) {
	ctx.Async(func() {
		notice, err := call()
		var ms shared.ModelStatus
		if err == nil {
			ms, err = s.env.API.Models(ctx)
		}
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil {
				s.fail(ctx, err)
				return
			}
			s.models, s.notice = &ms, notice
		})
	})
}

func (s *Score) dropZone() app.UI {
	cls := "dropzone"
	if s.dragging {
		cls += " dragging"
	}
	var inner app.UI
	if s.sending != nil {
		var total int64
		for _, f := range s.sending {
			total += f.Size
		}
		label := fmt.Sprintf("Uploading %s, %s: %s", plural(len(s.sending), "file"), byteSize(total), percent(s.progress))
		if s.progress >= 1 {
			label = fmt.Sprintf("Validating and scoring %s…", plural(len(s.sending), "file"))
		}
		inner = app.Div().ID("upload-progress").Role("status").Body(
			app.Progress().Max(1).Value(s.progress).Aria("label", "Upload progress"),
			app.P().Text(label),
		)
	} else {
		inner = app.Div().Body(
			app.P().Class("dropzone-title").Text("Drop cutouts here, or choose files"),
			app.P().Class("muted small").Text("FITS (.fits, .fits.gz; one file per band is combined per object), NumPy .npy (3, H, W), PNG or JPEG, or a .zip of them; up to 1,000 files and 50 MB a request. Add a .csv with name, ra, dec columns to give npy and PNG cutouts their positions."),
		)
	}
	return app.Div().Class(cls).ID("dropzone").
		On("dragover", s.onDragOver).On("dragenter", s.onDragOver).On("dragleave", s.onDragLeave).On("drop", s.on(s.onDrop)).
		Body(
			app.Input().Type("file").ID("files").Class("visually-hidden").Multiple(true).Accept(acceptFiles).
				Disabled(s.sending != nil).OnChange(s.on(s.onPick)),
			app.Label().For("files").Class("dropzone-label").Body(inner),
		)
}

// outcome lists each file of the last upload with its result or error.
func (s *Score) outcome() app.UI {
	r := s.last
	if r == nil || len(r.Files) == 0 {
		return app.If(false)
	}
	probs := map[int64]float64{}
	for _, u := range r.Uploads {
		if u.Score != nil {
			probs[u.ID] = u.Score.LensProb
		}
	}
	return app.Section().Class("card").ID("upload-outcome").Aria("label", "Upload results").Body(
		app.Ul().Class("files").Body(app.Range(r.Files).Slice(func(i int) app.UI {
			f := r.Files[i]
			if f.Error != "" {
				return app.Li().Class("file bad").DataSet("name", f.Name).Body(
					app.Span().Class("mark").Aria("hidden", "true").Text("✗"),
					app.Strong().Text(f.Name), app.Span().Class("file-error").Role("alert").Text(f.Error),
				)
			}
			note := "accepted"
			if f.Upload != nil {
				if p, ok := probs[f.Upload.ID]; ok {
					note = fmt.Sprintf("P(lens) %.3f", p)
				}
			}
			if f.Duplicate {
				note += " · uploaded before"
			}
			if f.Note != "" {
				note += " · " + f.Note
			}
			return app.Li().Class("file good").DataSet("name", f.Name).Body(
				app.Span().Class("mark").Aria("hidden", "true").Text("✓"),
				app.Strong().Text(f.Name), app.Span().Class("muted").Text(note),
			)
		})),
	)
}

func (s *Score) table() app.UI {
	switch {
	case s.uploads == nil && s.state != stateError:
		return app.Section().Class("card").Body(spinner("Loading your uploads…"))
	case len(s.uploads) == 0:
		return app.Section().Class("card").Body(emptyState("No uploads yet: drop some cutouts above."))
	}
	now := time.Now()
	rows := s.visible()
	if len(rows) == 0 {
		return app.Section().Class("card").Body(emptyState("No upload matches the filter."))
	}
	return app.Section().Class("card").Aria("label", "Scored uploads").Body(
		app.Div().Class("table-wrap").Body(app.Table().Class("data scores").ID("scores").Body(
			app.THead().Body(app.Tr().Body(
				app.Th().Text(""), app.Th().Text("file"), app.Th().Text("P(lens)"), app.Th().Text("grade"), app.Th().Class("wide-only").Text("position"),
				app.Th().Class("wide-only").Text("format"), app.Th().Class("wide-only").Text("pixels"), app.Th().Class("wide-only").Text("uploaded"),
			)),
			app.TBody().Body(app.Range(rows).Slice(func(i int) app.UI {
				u := rows[i]
				href := fmt.Sprintf("/score?upload=%d", u.ID)
				row := app.Tr().DataSet("upload", u.ID).OnClick(s.onRow)
				if u.ID == s.selected {
					row = row.Class("selected").Aria("selected", "true")
				}
				return row.Body(
					app.Td().Body(app.Img().Class("thumb-small").Src(api.UploadPNG(u.ID, api.PNG{Scale: 3})).Alt("").Width(96).Height(96).Attr("loading", "lazy")),
					app.Td().Body(
						app.A().Href(href).Text(u.Name),
						app.If(len(u.SamePosition) > 0, app.Span().Class("badge same-position").Title("other uploads within 1 arcsec").Textf("same position as %s", plural(len(u.SamePosition), "other"))),
						app.If(u.BandWarning != "", app.Span().Class("badge band-warning").Title(bandWarningText(u.BandWarning)).Text(u.BandWarning))),
					app.Td().Body(s.probCell(u.Score)),
					app.Td().Class("grade-cell").Text(gradeText(u)),
					app.Td().Class("wide-only mono").Text(positionText(u.Position)),
					app.Td().Class("wide-only").Text(u.Format),
					app.Td().Class("wide-only").Textf("%d×%d", u.Width, u.Height),
					app.Td().Class("wide-only").Text(ago(u.Created, now)),
				)
			})),
		)),
	)
}

// onRow opens the clicked row's upload. It reads the row's data-upload
// rather than closing over the upload: go-app keeps a row's first handler
// when a re-ranked table reuses the row for another upload (it compares
// handlers by code pointer), so a closure would open a stale candidate.
func (s *Score) onRow(ctx app.Context, e app.Event) {
	id := e.Get("currentTarget").Get("dataset").Get("upload").String()
	if _, err := strconv.ParseInt(id, 10, 64); err == nil {
		ctx.Navigate("/score?upload=" + id)
	}
}

// gradeFlags are the flags a grade can carry, as lens searches use them.
var gradeFlags = []string{"artefact", "ring galaxy", "merger", "spiral arms", "needs spectroscopy"}

// gradeLabels name the grades on their buttons.
var gradeLabels = map[string]string{shared.GradeA: "A: definite lens", shared.GradeB: "B: probable", shared.GradeC: "C: possible", shared.GradeNone: "0: not a lens"}

// gradeKeys are the keyboard's grades: 3/a, 2/b, 1/c, 0/x.
var gradeKeys = map[string]string{"3": "A", "a": "A", "2": "B", "b": "B", "1": "C", "c": "C", "0": "0", "x": "0"}

// OnMount listens for the grading keys while the page is shown.
func (s *Score) OnMount(ctx app.Context) {
	s.keys = app.Window().AddEventListener("keydown", s.onKey)
}

// OnDismount stops listening for the grading keys.
func (s *Score) OnDismount() {
	if s.keys != nil {
		s.keys()
		s.keys = nil
	}
}

// onKey grades the open candidate (3/a A, 2/b B, 1/c C, 0/x not a lens),
// opens the next one to grade (n) or closes it (Escape); keys typed into a
// field are the field's.
func (s *Score) onKey(ctx app.Context, e app.Event) {
	if s.selected == 0 || e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool() || e.Get("altKey").Bool() {
		return
	}
	switch e.Get("target").Get("tagName").String() {
	case "INPUT", "TEXTAREA", "SELECT":
		return
	}
	key := e.Get("key").String()
	switch {
	case gradeKeys[strings.ToLower(key)] != "":
		e.PreventDefault()
		s.submitGrade(s.ctxOr(ctx), gradeKeys[strings.ToLower(key)])
	case key == "n":
		s.gradeNext(s.ctxOr(ctx))
	case key == "j" || key == "ArrowDown" || key == "k" || key == "ArrowUp":
		e.PreventDefault()
		step := 1
		if key == "k" || key == "ArrowUp" {
			step = -1
		}
		s.step(ctx, step)
	case key == "Escape" && s.zoomed:
		s.ctxOr(ctx).Dispatch(func(app.Context) { s.zoomed = false })
	case key == "Escape":
		ctx.Navigate("/score")
	}
}

// step opens the candidate step rows below (or above) the open one in the
// ranked table, staying at its ends.
func (s *Score) step(ctx app.Context, step int) {
	rows := s.visible()
	i := slices.IndexFunc(rows, func(u shared.Upload) bool { return u.ID == s.selected })
	if i < 0 {
		return
	}
	if j := min(max(i+step, 0), len(rows)-1); j != i {
		ctx.Navigate(fmt.Sprintf("/score?upload=%d", rows[j].ID))
	}
}

// ctxOr is the page's own context, else ctx.
func (s *Score) ctxOr(ctx app.Context) app.Context {
	if s.ctx != nil {
		return s.ctx
	}
	return ctx
}

// onGradeButton grades with the clicked button's data-grade.
func (s *Score) onGradeButton(ctx app.Context, e app.Event) {
	s.submitGrade(ctx, e.Get("currentTarget").Get("dataset").Get("grade").String())
}

// onFlag adds or removes the toggled checkbox's flag.
func (s *Score) onFlag(ctx app.Context, e app.Event) {
	flag := e.Get("target").Get("value").String()
	on := e.Get("target").Get("checked").Bool()
	s.gradeFlags = slices.DeleteFunc(s.gradeFlags, func(f string) bool { return f == flag })
	if on {
		s.gradeFlags = append(s.gradeFlags, flag)
	}
}

// submitGrade records the caller's grade of the open candidate, then
// shows what they may now see of the others'.
func (s *Score) submitGrade(ctx app.Context, grade string) {
	id := s.selected
	req := shared.GradeRequest{Grade: grade, Note: s.gradeNote, Flags: slices.Clone(s.gradeFlags)}
	ctx.Async(func() {
		_, err := s.env.API.Grade(ctx, id, req)
		var gv shared.GradesView
		if err == nil {
			gv, err = s.env.API.Grades(ctx, id)
		}
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil {
				s.fail(ctx, err)
				return
			}
			if id == s.selected {
				s.grades = &gv
			}
			s.notice = fmt.Sprintf("Graded %s. Press n for the next candidate to grade.", grade)
			s.loadUploads(ctx) // the table's grade column and the summary
		})
	})
}

// gradeNext opens the top-ranked candidate the caller has not graded.
func (s *Score) gradeNext(ctx app.Context) {
	ctx.Async(func() {
		u, ok, err := s.env.API.NextToGrade(ctx)
		ctx.Dispatch(func(ctx app.Context) {
			switch {
			case err != nil:
				s.fail(ctx, err)
			case !ok:
				s.notice = "You have graded every candidate."
			default:
				ctx.Navigate(fmt.Sprintf("/score?upload=%d", u.ID))
			}
		})
	})
}

// Defaults of the large view's Lupton composite (render.DefaultLupton).
const (
	defaultLupQ    = 10
	defaultLupSoft = 0.6
	largeViewPx    = 320 // the large view's least side, px
)

// largeView shows the open candidate at least largeViewPx wide, pixels
// upscaled as they are, in colour or one band, with the composite's
// Lupton Q and stretch adjustable; a click fills the window with it.
func (s *Score) largeView(up *shared.Upload) app.UI {
	side := 32
	if up != nil && up.Width > 0 {
		side = up.Width
	}
	band := cmp.Or(s.viewBand, "rgb")
	q, soft := cmp.Or(s.lupQ, defaultLupQ), cmp.Or(s.lupSoft, defaultLupSoft)
	var layers []string
	if s.detail != nil {
		layers = s.detail.Layers
	}
	layer := s.layer
	if !slices.Contains(layers, layer) {
		layer = ""
	}
	src := api.UploadPNG(s.selected, api.PNG{Band: band, Scale: min((largeViewPx+side-1)/side, 16), Q: q, Soft: soft, Layer: layer})
	cls := "large-frame"
	if s.zoomed {
		cls += " zoomed"
	}
	var overlay app.UI = app.If(false)
	if up != nil && up.Position != nil && up.Position.Orientation != nil {
		o := up.Position.Orientation
		overlay = chart.SkyOverlay(up.Width, up.Height, o.Scale, o.North, o.East)
	}
	bands := []string{"rgb", "g", "r", "i"}
	blink := "button small"
	if s.blinking {
		blink += " primary"
	}
	return app.Div().Class("large").Body(
		app.Div().Class(cls).Body(
			app.Img().Class("large-view").ID("candidate-image").Src(src).Alt(band+" image of the candidate").Title("click to fill the window; Escape to return").
				OnClick(s.on(func(ctx app.Context, e app.Event) { s.zoomed = !s.zoomed })),
			overlay,
		),
		app.Div().Class("actions view-bands").Body(app.Range(bands).Slice(func(i int) app.UI {
			b := bands[i]
			bcls := "button small"
			if b == band && !s.blinking {
				bcls += " primary"
			}
			return app.Button().Type("button").Class(bcls).ID("view-"+b).DataSet("band", b).Text(b).OnClick(s.on(s.onViewBand))
		}), app.Button().Type("button").Class(blink).ID("view-blink").Title("show g, r and i in turn").Text("blink").OnClick(s.on(s.onBlink)),
			app.Range(layers).Slice(func(i int) app.UI {
				l := layers[i]
				lcls := "button small"
				if l == layer {
					lcls += " primary"
				}
				return app.Button().Type("button").Class(lcls).ID("layer-"+l).DataSet("layer", l).Title(layerTitles[l]).Text(l).OnClick(s.on(s.onLayer))
			})),
		app.If(band == "rgb", app.Div().Class("lupton").Body(
			app.Label().For("lup-q").Textf("Q %g", q),
			app.Input().Type("range").ID("lup-q").Min(1).Max(30).Step(1).Value(q).OnInput(s.on(func(ctx app.Context, e app.Event) { s.lupQ, _ = strconv.ParseFloat(value(e), 64) })),
			app.Label().For("lup-soft").Textf("stretch %g", soft),
			app.Input().Type("range").ID("lup-soft").Min(0.05).Max(5).Step(0.05).Value(soft).OnInput(s.on(func(ctx app.Context, e app.Event) { s.lupSoft, _ = strconv.ParseFloat(value(e), 64) })),
		)),
	)
}

// layerTitles say what each display layer shows.
var layerTitles = map[string]string{
	"mask":  "paint the pixels the survey's MASK blanked (NO_DATA, SAT, BAD) magenta",
	"sigma": "show each pixel's noise, the square root of the survey's VARIANCE",
}

// onLayer shows the clicked button's layer, or the image again when it
// was shown.
func (s *Score) onLayer(ctx app.Context, e app.Event) {
	l := e.Get("currentTarget").Get("dataset").Get("layer").String()
	if s.layer == l {
		l = ""
	}
	s.layer = l
}

// onViewBand shows the clicked button's band in the large view.
func (s *Score) onViewBand(ctx app.Context, e app.Event) {
	s.viewBand, s.blinking = e.Get("currentTarget").Get("dataset").Get("band").String(), false
}

// onBlink starts or stops showing g, r and i in turn.
func (s *Score) onBlink(ctx app.Context, e app.Event) {
	s.blinking = !s.blinking
	if s.blinking {
		s.blinks++
		s.blinkStep(ctx, s.blinks)
	}
}

// blinkStep shows the band after the one shown (g after anything else)
// and comes back after blinkEvery, until blinking stops or blink start
// number run is not the latest (stopped and started again in between).
func (s *Score) blinkStep(ctx app.Context, run int) {
	if !s.blinking || run != s.blinks || !s.Mounted() {
		return
	}
	s.viewBand = nextBlinkBand(s.viewBand)
	ctx.After(blinkEvery, func(ctx app.Context) { s.blinkStep(ctx, run) })
}

// nextBlinkBand is the band blinking shows after band: g, r, i, g, ...
func nextBlinkBand(band string) string {
	switch band {
	case "g":
		return "r"
	case "r":
		return "i"
	}
	return "g"
}

// gradingBlock grades the open candidate: buttons (and keys), a note,
// flags, and the others' grades with their consensus once graded.
func (s *Score) gradingBlock() app.UI {
	v := s.grades
	if v == nil {
		return app.If(false)
	}
	mine := ""
	if v.Mine != nil {
		mine = v.Mine.Grade
	}
	var others app.UI = app.If(false)
	switch {
	case v.Hidden:
		others = app.P().Class("muted").ID("grades-hidden").Text("Other graders' grades are hidden until you grade this candidate.")
	case v.Consensus != nil:
		names := make([]string, len(v.Others))
		for i, g := range v.Others {
			names[i] = g.User + ": " + g.Grade
		}
		text := fmt.Sprintf("Consensus %s: mean %.2f over %s (spread %.2f).", v.Consensus.Class, v.Consensus.Mean, plural(v.Consensus.Graders, "grader"), v.Consensus.Spread)
		if len(names) > 0 {
			text += " Others: " + strings.Join(names, ", ") + "."
		}
		others = app.P().ID("grades-consensus").Text(text)
	}
	return app.Div().Class("grading").ID("grading").Body(
		app.H3().Text("Your grade"),
		app.Div().Class("actions").Body(app.Range(shared.Grades).Slice(func(i int) app.UI {
			g := shared.Grades[i]
			cls := "button"
			if g == mine {
				cls += " primary"
			}
			return app.Button().Type("button").Class(cls).ID("grade-"+g).DataSet("grade", g).Aria("pressed", strconv.FormatBool(g == mine)).
				Text(gradeLabels[g]).OnClick(s.on(s.onGradeButton))
		})),
		app.Div().Class("field").Body(
			app.Label().For("grade-note").Text("Note"),
			app.Input().Type("text").ID("grade-note").MaxLength(2000).Value(s.gradeNote).
				OnChange(s.on(func(ctx app.Context, e app.Event) { s.gradeNote = value(e) })),
		),
		app.Div().Class("flags").Body(app.Range(gradeFlags).Slice(func(i int) app.UI {
			f := gradeFlags[i]
			return app.Label().Class("check").Body(
				app.Input().Type("checkbox").Value(f).Checked(slices.Contains(s.gradeFlags, f)).OnChange(s.on(s.onFlag)),
				app.Text(" "+f),
			)
		})),
		others,
		app.P().Class("muted small").Text("Keys: 3 or a grades A, 2 or b B, 1 or c C, 0 or x not a lens; n opens the next candidate to grade; j and k (or the arrows) the next and previous in the ranking; Escape closes."),
		app.Button().Type("button").Class("button").ID("grade-next").Text("Next to grade").OnClick(s.on(func(ctx app.Context, e app.Event) { s.gradeNext(ctx) })),
	)
}

// gradingLine says how far grading has gone and how good the default
// model's ranking is by the graders' consensus.
func (s *Score) gradingLine() app.UI {
	g := s.grading
	if g == nil || g.Graded == 0 {
		return app.If(false)
	}
	text := fmt.Sprintf("Graded %d of %d candidates.", g.Graded, g.Candidates)
	if g.Kappa != nil {
		text += fmt.Sprintf(" Graders agree with Fleiss' kappa %.2f (%d candidates graded by several).", *g.Kappa, g.KappaCandidates)
	}
	if len(g.Purity) > 0 {
		p := g.Purity[0]
		text += fmt.Sprintf(" In the default model's top %d, %d of %d graded are A or B; %d A or B rank below.", p.N, p.Lenses, p.Graded, p.Missed)
	}
	return app.P().Class("muted").ID("grading-summary").Text(text)
}

// roundsDepth is the depth N the rounds table judges each ranking at.
const roundsDepth = 50

// roundsCard shows, once candidates are graded, each model that scored
// them (a round of retraining): purity at N by today's consensus, the A
// and B candidates it brought into its top N, and the largest moves.
func (s *Score) roundsCard() app.UI {
	rs := s.rounds
	if rs == nil || len(rs.Rounds) == 0 || s.grading == nil || s.grading.Graded == 0 {
		return app.If(false)
	}
	return app.Section().Class("card").ID("rounds").Aria("labelledby", "h-rounds").Body(
		app.H2().ID("h-rounds").Text("Rounds"),
		app.P().Class("muted small").Textf("Each model that scored the candidates, in the order it first did, judged by today's consensus at its top %d. "+
			"\"New\" are the A and B candidates it ranked in its top %d that the round before ranked lower; the moves are the largest rank changes.", rs.N, rs.N),
		app.Div().Class("table-wrap").Body(app.Table().Class("data").Body(
			app.THead().Body(app.Tr().Body(
				app.Th().Text("Round"), app.Th().Text("Model"), app.Th().Text("Scored"),
				app.Th().Textf("Purity at %d", rs.N), app.Th().Text("A/B ranked below"), app.Th().Text("New A/B in the top"), app.Th().Text("Largest moves"),
			)),
			app.TBody().Body(app.Range(rs.Rounds).Slice(func(i int) app.UI {
				r := rs.Rounds[i]
				return app.Tr().Body(
					app.Td().Text(i+1),
					app.Td().Text(r.Model),
					app.Td().Text(r.Scored),
					app.Td().Textf("%d of %d graded (%s)", r.Purity.Lenses, r.Purity.Graded, percent(r.Purity.Purity)),
					app.Td().Text(r.Purity.Missed),
					app.Td().Text(roundNames(r.NewInTop, false)),
					app.Td().Text(roundNames(r.Movers[:min(3, len(r.Movers))], true)),
				)
			})),
		)),
	)
}

// roundNames lists round candidates, with their moves when moves is set:
// "u4.npy 5→1".
func roundNames(cs []shared.RoundCandidate, moves bool) string {
	if len(cs) == 0 {
		return "–"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name
		if moves {
			parts[i] += fmt.Sprintf(" %d→%d", c.PrevRank, c.Rank)
		}
	}
	return strings.Join(parts, ", ")
}

// gradeText is the caller's grade of an upload and, once they may see it,
// the consensus: "B · consensus A of 3".
func gradeText(u shared.Upload) string {
	text := u.MyGrade
	if c := u.Consensus; c != nil && c.Graders > 1 {
		text += fmt.Sprintf(" · consensus %s of %d", c.Class, c.Graders)
	}
	return text
}

// positionText is a position as astronomers write it, or "" without one.
func positionText(p *shared.Position) string {
	if p == nil {
		return ""
	}
	return p.Sexagesimal
}

// skyBlock shows an upload's object and position, in sexagesimal and
// degrees, with links to the sky around it; nothing when it has neither.
func skyBlock(u *shared.Upload) app.UI {
	if u == nil || (u.Position == nil && u.Object == "") {
		return app.If(false)
	}
	rows := []app.UI{}
	if u.Object != "" {
		rows = append(rows, app.Tr().Body(app.Th().Text("object"), app.Td().Text(u.Object)))
	}
	if p := u.Position; p != nil {
		rows = append(rows,
			app.Tr().Body(app.Th().Text("RA, Dec"), app.Td().Class("mono").Textf("%s (%.6f°, %+.6f°)", p.Sexagesimal, p.RA, p.Dec)),
			app.Tr().Body(app.Th().Text("from"), app.Td().Text(p.From)),
			app.Tr().Body(app.Th().Text("look around"), app.Td().Body(
				app.A().Href(api.LegacySurveysURL(p.RA, p.Dec)).Target("_blank").Rel("noopener").Text("Legacy Surveys viewer"), app.Text(" · "),
				app.A().Href(api.SimbadURL(p.RA, p.Dec)).Target("_blank").Rel("noopener").Text("SIMBAD"), app.Text(" · "),
				app.A().Href(api.NEDURL(p.RA, p.Dec)).Target("_blank").Rel("noopener").Text("NED"),
			)),
		)
	}
	if len(u.SamePosition) > 0 {
		ids := make([]string, len(u.SamePosition))
		for i, id := range u.SamePosition {
			ids[i] = "#" + strconv.FormatInt(id, 10)
		}
		rows = append(rows, app.Tr().Body(app.Th().Text("same position"), app.Td().Text("uploads "+strings.Join(ids, ", ")+" lie within 1 arcsec")))
	}
	return app.Table().Class("data meta").ID("upload-sky").Body(app.TBody().Body(rows...))
}

// visible returns the table's rows: the uploads the show filter keeps, in
// the server's ranking or, ordered by consensus, by mean grade (then
// number of graders, then ranking), those without a visible consensus
// last.
func (s *Score) visible() []shared.Upload {
	out := s.uploads
	if s.show != "" {
		out = nil
		for _, u := range s.uploads {
			lens := u.Consensus != nil && (u.Consensus.Class == shared.GradeA || u.Consensus.Class == shared.GradeB)
			if s.show == "ungraded" && u.MyGrade == "" || s.show == "graded" && u.MyGrade != "" || s.show == "lenses" && lens {
				out = append(out, u)
			}
		}
	}
	if s.order == "consensus" {
		out = slices.Clone(out)
		slices.SortStableFunc(out, func(a, b shared.Upload) int {
			switch {
			case a.Consensus == nil && b.Consensus == nil:
				return 0
			case a.Consensus == nil:
				return 1
			case b.Consensus == nil:
				return -1
			case a.Consensus.Mean != b.Consensus.Mean:
				return cmp.Compare(b.Consensus.Mean, a.Consensus.Mean)
			}
			return cmp.Compare(b.Consensus.Graders, a.Consensus.Graders)
		})
	}
	return out
}

// probCell is the package's probCell, or a dash while scores are hidden.
func (s *Score) probCell(sc *shared.Score) app.UI {
	if s.hideScores {
		return app.Span().Class("muted").Title("hidden while grading").Text("–")
	}
	return probCell(sc)
}

// probCell shows a lens probability as a number and a bar.
func probCell(sc *shared.Score) app.UI {
	if sc == nil {
		return app.Span().Class("muted").Text("not scored")
	}
	return app.Div().Class("prob").Body(
		app.Span().Class("prob-value").Textf("%.3f", sc.LensProb),
		app.Span().Class("prob-bar").Aria("hidden", "true").Body(
			app.Span().Style("width", strconv.FormatFloat(100*sc.LensProb, 'f', 1, 64)+"%"),
		),
	)
}

func (s *Score) detailPanel() app.UI {
	if s.selected == 0 {
		return app.If(false)
	}
	var up *shared.Upload
	for i := range s.uploads {
		if s.uploads[i].ID == s.selected {
			up = &s.uploads[i]
		}
	}
	head := app.Div().Class("card-head").Body(
		app.H2().Text(uploadTitle(up, s.selected)),
		app.A().Class("button small ghost").Href("/score").Aria("label", "Close the detail").Text("Close"),
	)
	if s.detail == nil {
		return app.Section().Class("card detail").ID("upload-detail").Body(head, spinner("Loading the detail…"))
	}
	bands := []string{"rgb", "g", "r", "i"}
	return app.Section().Class("card detail").ID("upload-detail").Aria("label", "Upload detail").Body(
		head,
		app.If(up != nil && up.Score != nil && !s.hideScores, app.P().Class("big-number").Textf("P(lens) = %.3f", scoreOf(up))),
		app.If(up != nil && up.BandWarning != "", app.Div().Class("alert warning").ID("band-warning").Role("note").Text(bandWarningText(bandWarningOf(up)))),
		s.largeView(up),
		s.gradingBlock(),
		app.Div().Class("bands small-bands").Body(app.Range(bands).Slice(func(i int) app.UI {
			b := bands[i]
			caption := b + " band"
			if b == "rgb" {
				caption = "RGB composite"
			}
			return figure(caption, api.UploadPNG(s.selected, api.PNG{Band: b, Scale: 3}), "upload-band-"+b)
		})),
		skyBlock(up),
		metaTable(s.detail),
		bandTable(s.detail.Bands),
		app.H3().Text("Nearest images"),
		s.similarChoice(),
		s.neighbours(),
	)
}

func uploadTitle(u *shared.Upload, id int64) string {
	if u == nil {
		return fmt.Sprintf("Upload %d", id)
	}
	return u.Name
}

func scoreOf(u *shared.Upload) float64 {
	if u == nil || u.Score == nil {
		return 0
	}
	return u.Score.LensProb
}

// similarChoice picks the dataset the similarity search looks in: the
// model's training data, or any ready dataset (an imported survey too).
func (s *Score) similarChoice() app.UI {
	opts := []option{{"0", "the model's training data"}}
	for _, d := range s.datasets {
		if d.State == shared.DatasetReady {
			opts = append(opts, option{strconv.FormatInt(d.ID, 10), d.Name + " (" + classCounts(d) + ")"})
		}
	}
	if len(opts) == 1 {
		return app.If(false)
	}
	return selectField("similar-in", "Search the train split of", strconv.FormatInt(s.similarIn, 10), opts, s.on(func(ctx app.Context, e app.Event) {
		s.similarIn, _ = strconv.ParseInt(value(e), 10, 64)
		id := s.selected
		s.selected = 0
		s.selectUpload(ctx, id)
	}))
}

func (s *Score) neighbours() app.UI {
	switch {
	case s.similarErr != "":
		return app.P().Class("muted").Text(s.similarErr)
	case s.similar == nil:
		return spinner("Finding similar images…")
	case len(s.similar.Neighbours) == 0:
		return app.P().Class("muted").Text("No training image to compare with.")
	}
	ns := s.similar.Neighbours
	return app.Ul().Class("thumbs small").ID("neighbours").Body(app.Range(ns).Slice(func(i int) app.UI {
		n := ns[i]
		return app.Li().Body(app.A().Class("thumb").Href(imageHref(n.Dataset, n.Image)).Title(n.Image).Body(
			app.Img().Src(api.ImagePNG(n.Dataset, n.Image, api.PNG{Scale: 2})).Alt(n.Image).Width(64).Height(64).Attr("loading", "lazy"),
			app.Span().Class("thumb-caption").Body(
				app.Span().Class("badge "+n.Class).Text(classLabel(n.Class)),
				app.Span().Class("small").Textf("cos %.3f", n.Similarity),
			),
		))
	}))
}

// bandWarningText says what a band read in place of another means for a
// score.
func bandWarningText(w string) string {
	return fmt.Sprintf("Read with %s, as the uploader asked: the model was trained on g, r, i, so this score is less reliable.", w)
}

// bandWarningOf is up's band warning; "" for nil.
func bandWarningOf(up *shared.Upload) string {
	if up == nil {
		return ""
	}
	return up.BandWarning
}
