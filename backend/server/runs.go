package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/memplan"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// configFields lists the key errors a config check returned (config and
// augment return shared.FieldError values, possibly joined), or the error
// as one keyless field when it names no key (a YAML syntax error).
func configFields(err error) []shared.FieldError {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []shared.FieldError
		for _, e := range joined.Unwrap() {
			out = append(out, configFields(e)...)
		}
		return out
	}
	var fe shared.FieldError
	if errors.As(err, &fe) {
		return []shared.FieldError{fe}
	}
	return []shared.FieldError{{Message: err.Error()}}
}

// kindOf is the run kind that trains a config's method.
func kindOf(m config.Method) shared.RunKind {
	if m == config.Supervised || m == config.Finetune {
		return shared.KindFinetune
	}
	return shared.KindPretrain
}

// templates lists the shipped configs.
func (s *Server) templates() ([]shared.ConfigTemplate, error) {
	if s.opt.Configs == nil {
		return []shared.ConfigTemplate{}, nil
	}
	out := []shared.ConfigTemplate{}
	for _, pat := range []string{"*.yaml", "reference/*.yaml"} {
		names, err := fs.Glob(s.opt.Configs, pat)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			b, err := fs.ReadFile(s.opt.Configs, n)
			if err != nil {
				return nil, err
			}
			t := shared.ConfigTemplate{Name: strings.TrimSuffix(n, path.Ext(n)), YAML: string(b)}
			if cfg, err := config.Parse(b); err == nil {
				t.Method, t.Backbone, t.Kind = string(cfg.Experiment.Method), cfg.Network.Backbone, kindOf(cfg.Experiment.Method)
			} else if rc, err := s.parseReproduce(b); err == nil {
				t.Method, t.Backbone, t.Kind = "reproduce", strings.Join(rc.Backbones, ","), shared.KindReproduce
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// parseReproduce checks a reproduce config; the base configs it names are
// read from the shipped configs, where a reproduce run finds them too.
func (s *Server) parseReproduce(b []byte) (*config.ReproduceConfig, error) {
	if s.opt.Configs == nil {
		return nil, errors.New("no shipped configs to read base configs from")
	}
	return config.ParseReproduce(b, func(name string) ([]byte, error) { return fs.ReadFile(s.opt.Configs, path.Clean(name)) })
}

func (s *Server) template(name string) (shared.ConfigTemplate, error) {
	ts, err := s.templates()
	if err != nil {
		return shared.ConfigTemplate{}, err
	}
	for _, t := range ts {
		if t.Name == name {
			return t, nil
		}
	}
	return shared.ConfigTemplate{}, errInvalid("unknown template", shared.FieldError{Key: "template", Message: fmt.Sprintf("no shipped config %q; see GET /api/configs", name)})
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request, c *Call) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

func (s *Server) validateConfig(w http.ResponseWriter, r *http.Request, c *Call) error {
	var req shared.ValidateConfigRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	cfg, err := config.Parse([]byte(req.Config))
	resp := shared.ValidateConfigResponse{OK: err == nil}
	if err != nil {
		resp.Errors = configFields(err)
	} else {
		resp.Method, resp.Kind, resp.Warnings = string(cfg.Experiment.Method), kindOf(cfg.Experiment.Method), cfg.Warnings
		if resp.Memory, err = s.jobMemory(cfg); err == nil {
			err = s.checkDevice(cfg)
		}
		if err != nil {
			resp.OK, resp.Errors = false, configFields(err)
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// checkDevice refuses a config that trains on a GPU when the server's jobs
// have none.
func (s *Server) checkDevice(cfg *config.Config) error {
	spec, err := gpu.ParseDevice(cfg.Experiment.Device)
	if err != nil {
		return shared.FieldErrorf("experiment.device", "%v", err)
	}
	if spec.CUDA && s.opt.GPUs == 0 {
		return shared.FieldErrorf("experiment.device", "%s: this server has no GPUs for jobs (an operator starts it with serve --gpus N); use cpu", spec)
	}
	return nil
}

// jobMemory plans the memory of a step of cfg within what a job may take:
// a config without a smaller train args.max_memory of its own is planned
// with the server's, as the job will run (see jobs.Options.JobMemory).
func (s *Server) jobMemory(cfg *config.Config) (*shared.MemoryEstimate, error) {
	c := *cfg
	budget := s.opt.JobMemory
	b, err := c.Train.Budget(budget)
	if err != nil {
		return nil, err
	}
	if b > 0 {
		c.Train.MaxMemory = strconv.FormatInt(b, 10)
	}
	plan, err := memplan.Config(&c)
	if err != nil {
		return nil, err
	}
	est := &shared.MemoryEstimate{Bytes: plan.Estimate, Chunk: plan.Chunk, Batch: c.Train.BatchSize, Budget: budget}
	if budget > 0 && plan.Estimate > budget {
		// Only an explicit micro-batch gets here: a chosen one fits.
		return est, shared.FieldErrorf("train args.micro_batch", "%d images per backbone pass take an estimated %s, more than the %s a job may take on this server; lower it, or remove it to let the budget choose",
			plan.Chunk, humanize.IBytes(uint64(plan.Estimate)), humanize.IBytes(uint64(budget)))
	}
	return est, nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, c *Call) error {
	q := r.URL.Query()
	f := store.RunFilter{Kind: shared.RunKind(q.Get("kind"))}
	if f.Kind != "" && !slices.Contains(shared.RunKinds, f.Kind) {
		return errBadRequest("kind=%q: want one of %v", f.Kind, shared.RunKinds)
	}
	if st := shared.RunState(q.Get("state")); st != "" {
		if !slices.Contains(shared.RunStates, st) {
			return errBadRequest("state=%q: want one of %v", st, shared.RunStates)
		}
		f.States = []shared.RunState{st}
	}
	js, err := s.st.Runs(r.Context(), f)
	if err != nil {
		return err
	}
	v := s.viewOf(c)
	out := make([]shared.Run, len(js))
	for i, j := range js {
		out[i] = v.run(j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// pathRun is the run named by the path parameter id.
func (s *Server) pathRun(r *http.Request) (store.Run, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Run{}, err
	}
	return s.st.Run(r.Context(), id)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, c *Call) error {
	j, err := s.pathRun(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewOf(c).run(j))
	return nil
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request, c *Call) error {
	var req shared.CreateRunRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	j, err := s.SubmitRun(r.Context(), c.User(), req)
	if err != nil {
		return err
	}
	if err := s.st.Audit(r.Context(), c.User(), "run.create", fmt.Sprintf("run %d", j.ID), fmt.Sprintf("%s %s", j.Kind, j.Name)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.viewOf(c).run(j))
	return nil
}

// SubmitRun validates a run request (config errors per key) and queues it.
func (s *Server) SubmitRun(ctx context.Context, user string, req shared.CreateRunRequest) (store.Run, error) {
	switch req.Kind {
	case shared.KindPretrain, shared.KindFinetune, shared.KindReproduce:
	case shared.KindImport:
		return s.submitImport(ctx, user, req)
	case shared.KindSurvey:
		return s.submitSurvey(ctx, user, req)
	case shared.KindSimulate:
		return store.Run{}, errInvalid("use POST /api/datasets", shared.FieldError{Key: "kind", Message: "simulate runs are made by creating a dataset"})
	case shared.KindScore:
		return store.Run{}, errInvalid("use POST /api/uploads/score", shared.FieldError{Key: "kind", Message: "score-batch runs are made from uploads"})
	default:
		return store.Run{}, errInvalid("unknown kind", shared.FieldError{Key: "kind", Message: fmt.Sprintf("%q: want pretrain, finetune, reproduce, import or score-survey", req.Kind)})
	}
	ds, err := s.trainingDataset(ctx, req.Dataset)
	if err != nil {
		return store.Run{}, err
	}
	if req.After == 0 && ds.Job != 0 {
		// Training on a dataset still being simulated waits for it.
		if j, err := s.st.Run(ctx, ds.Job); err == nil && !j.State.Final() {
			req.After = j.ID
		}
	}
	if req.After != 0 {
		if _, err := s.st.Run(ctx, req.After); errors.Is(err, store.ErrNotFound) {
			return store.Run{}, errInvalid("unknown run", shared.FieldError{Key: "after", Message: fmt.Sprintf("no run %d", req.After)})
		} else if err != nil {
			return store.Run{}, err
		}
	}
	sub := jobs.Submission{NewRun: store.NewRun{Kind: req.Kind, Name: req.Name, Dataset: ds.ID, CreatedBy: user, After: req.After}}
	if req.Kind == shared.KindReproduce {
		// No config: the command's default (the CPU preset).
		if req.Template != "" || req.Config != "" {
			if req.Template != "" && req.Config != "" {
				return store.Run{}, errInvalid("give a template or a config, not both", shared.FieldError{Key: "template", Message: "set only one of template and config"})
			}
			sub.Config = req.Config
			if req.Template != "" {
				t, err := s.template(req.Template)
				if err != nil {
					return store.Run{}, err
				}
				sub.Config = t.YAML
			}
			rc, err := s.parseReproduce([]byte(sub.Config))
			if err != nil {
				return store.Run{}, errInvalid("the reproduce config is invalid", configFields(err)...)
			}
			sub.Name = cmp.Or(sub.Name, rc.Name)
		}
		sub.Name = cmp.Or(sub.Name, "reproduce")
		return s.opt.Jobs.Submit(ctx, sub)
	}
	cfg, text, err := s.requestConfig(req.Template, req.Config)
	if err != nil {
		return store.Run{}, err
	}
	if k := kindOf(cfg.Experiment.Method); k != req.Kind {
		return store.Run{}, errInvalid("the config does not fit the kind", shared.FieldError{Key: "experiment.ssl_training",
			Message: fmt.Sprintf("%s is trained by a %s run, not %s", cfg.Experiment.Method, k, req.Kind)})
	}
	ov := config.Overrides{Data: s.abs(ds.Dir), Output: "run"}
	if req.Checkpoint != 0 {
		ck, err := s.st.Checkpoint(ctx, req.Checkpoint)
		if errors.Is(err, store.ErrNotFound) {
			return store.Run{}, errInvalid("unknown checkpoint", shared.FieldError{Key: "checkpoint", Message: fmt.Sprintf("no checkpoint %d", req.Checkpoint)})
		}
		if err != nil {
			return store.Run{}, err
		}
		ov.Checkpoint, sub.Params.Checkpoint = s.abs(ck.Path), ck.ID
	}
	if err := cfg.Resolve(ov); err != nil {
		return store.Run{}, errInvalid("the config cannot run", configFields(err)...)
	}
	if _, err := s.jobMemory(cfg); err != nil {
		return store.Run{}, errInvalid("the config does not fit in a job's memory", configFields(err)...)
	}
	if err := s.checkDevice(cfg); err != nil {
		return store.Run{}, errInvalid("the config asks for a GPU", configFields(err)...)
	}
	sub.Config = text
	sub.Name = cmp.Or(sub.Name, cfg.Experiment.Name, string(cfg.Experiment.Method))
	return s.opt.Jobs.Submit(ctx, sub)
}

// submitImport queues an import of weights an operator placed under the
// data folder; a source outside it, or one that is missing, is refused by
// field (import.source).
func (s *Server) submitImport(ctx context.Context, user string, req shared.CreateRunRequest) (store.Run, error) {
	switch {
	case req.Import == nil:
		return store.Run{}, errInvalid("nothing to import", shared.FieldError{Key: "import.source", Message: "give the weights file's path in the data folder"})
	case req.Config != "" || req.Template != "" || req.Dataset != 0 || req.Checkpoint != 0 || req.After != 0:
		return store.Run{}, errInvalid("an import takes no config, dataset, checkpoint or run to wait for", shared.FieldError{Key: "kind", Message: "import runs read only the weights file"})
	}
	if err := jobs.CheckImport(s.opt.DataDir, *req.Import); err != nil {
		return store.Run{}, errInvalid("the weights cannot be imported", configFields(err)...)
	}
	name := cmp.Or(req.Name, "import "+strings.TrimSuffix(path.Base(req.Import.Source), path.Ext(req.Import.Source)))
	imp := *req.Import
	return s.opt.Jobs.Submit(ctx, jobs.Submission{NewRun: store.NewRun{Kind: shared.KindImport, Name: name, CreatedBy: user},
		Params: jobs.Params{Import: &imp}})
}

// submitSurvey queues the scoring of cutouts already on the server (paths
// and lists relative to the data folder) with a classifier checkpoint;
// what is missing, outside the folder or not a classifier is refused by
// field (survey.paths, survey.lists, survey.shards, survey.device,
// checkpoint).
func (s *Server) submitSurvey(ctx context.Context, user string, req shared.CreateRunRequest) (store.Run, error) {
	switch {
	case req.Survey == nil:
		return store.Run{}, errInvalid("nothing to score", shared.FieldError{Key: "survey.paths", Message: "give a folder, file or glob of cutouts in the data folder, or a list file"})
	case req.Config != "" || req.Template != "" || req.Dataset != 0 || req.Import != nil:
		return store.Run{}, errInvalid("a survey scoring takes no config, dataset or weights file", shared.FieldError{Key: "kind", Message: "score-survey runs read a checkpoint and cutouts"})
	}
	var errs []error
	ck, err := s.st.Checkpoint(ctx, req.Checkpoint)
	switch {
	case req.Checkpoint == 0:
		errs = append(errs, shared.FieldError{Key: "checkpoint", Message: "choose a classifier to score with"})
	case errors.Is(err, store.ErrNotFound):
		errs = append(errs, shared.FieldErrorf("checkpoint", "no checkpoint %d", req.Checkpoint))
	case err != nil:
		return store.Run{}, err
	case !ck.Classifier:
		errs = append(errs, shared.FieldErrorf("checkpoint", "%s/%s is a pretrained backbone without a classifier head: choose a fine-tuned or supervised checkpoint", ck.RunName, ck.Name))
	}
	survey := *req.Survey
	errs = append(errs, jobs.CheckSurvey(s.opt.DataDir, survey, s.opt.Jobs.OnCluster()))
	switch survey.Device {
	case "", "cpu":
		survey.Device = ""
	case "cuda":
		if s.opt.GPUs == 0 {
			errs = append(errs, shared.FieldError{Key: "survey.device", Message: "cuda: this server has no GPUs for jobs (an operator starts it with serve --gpus N); use cpu"})
		}
	default:
		errs = append(errs, shared.FieldErrorf("survey.device", "%q: want cpu or cuda", survey.Device))
	}
	if err := errors.Join(errs...); err != nil {
		return store.Run{}, errInvalid("the cutouts cannot be scored", configFields(err)...)
	}
	name := req.Name
	if name == "" {
		name = "score " + strings.Join(append(slices.Clone(survey.Paths), survey.Lists...), ", ")
		if r := []rune(name); len(r) > 60 {
			name = string(r[:59]) + "…"
		}
	}
	return s.opt.Jobs.Submit(ctx, jobs.Submission{NewRun: store.NewRun{Kind: shared.KindSurvey, Name: name, CreatedBy: user, After: req.After},
		Params: jobs.Params{Checkpoint: ck.ID, Cutouts: &survey}})
}

// trainingDataset is the dataset a run asks for, or the first ready one.
func (s *Server) trainingDataset(ctx context.Context, id int64) (store.Dataset, error) {
	ds, err := s.st.Datasets(ctx)
	if err != nil {
		return store.Dataset{}, err
	}
	for _, d := range ds {
		if id != 0 && d.ID != id {
			continue
		}
		dto, err := s.datasetDTO(ctx, d)
		if err != nil {
			return store.Dataset{}, err
		}
		// A dataset still being simulated is fine: the run can wait for it.
		if dto.State == shared.DatasetReady || dto.State == shared.DatasetBuilding {
			return d, nil
		}
		if id != 0 {
			return store.Dataset{}, errInvalid("dataset unusable", shared.FieldError{Key: "dataset", Message: fmt.Sprintf("dataset %d is %s", id, dto.State)})
		}
	}
	if id != 0 {
		return store.Dataset{}, errInvalid("unknown dataset", shared.FieldError{Key: "dataset", Message: fmt.Sprintf("no dataset %d", id)})
	}
	return store.Dataset{}, errInvalid("no dataset", shared.FieldError{Key: "dataset", Message: "no dataset is ready; create one first"})
}

// cancelRun stops a run: any run for admins, their own for others.
func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request, c *Call) error {
	j, err := s.pathRun(r)
	if err != nil {
		return err
	}
	if c.Session.User.Role != shared.RoleAdmin && j.CreatedBy != c.User() {
		return &apiError{status: http.StatusForbidden, code: shared.CodeForbidden, msg: fmt.Sprintf("run %d is %s's; you may cancel only your own runs", j.ID, j.CreatedBy)}
	}
	if j.State.Final() {
		return errConflict("run %d is already %s", j.ID, j.State)
	}
	if j, err = s.opt.Jobs.Cancel(r.Context(), j.ID); err != nil {
		return err
	}
	if err := s.st.Audit(r.Context(), c.User(), "run.cancel", fmt.Sprintf("run %d", j.ID), j.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewOf(c).run(j))
	return nil
}

func (s *Server) resumeRun(w http.ResponseWriter, r *http.Request, c *Call) error {
	j, err := s.pathRun(r)
	if err != nil {
		return err
	}
	if j, err = s.opt.Jobs.Resume(r.Context(), j.ID); err != nil {
		return err
	}
	if err := s.st.Audit(r.Context(), c.User(), "run.resume", fmt.Sprintf("run %d", j.ID), j.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewOf(c).run(j))
	return nil
}

// maxEvents bounds one events or metrics answer.
const maxEvents = 1 << 20

func (s *Server) runMetrics(w http.ResponseWriter, r *http.Request, c *Call) error {
	j, err := s.pathRun(r)
	if err != nil {
		return err
	}
	kind := shared.MetricKind(r.URL.Query().Get("kind"))
	if kind != "" && !slices.Contains([]shared.MetricKind{shared.MetricStep, shared.MetricEpoch, shared.MetricEval, shared.MetricLog, shared.MetricWarning}, kind) {
		return errBadRequest("kind=%q: want step, epoch, eval, log or warning", kind)
	}
	evs, err := s.st.Events(r.Context(), j.ID, 0, maxEvents, shared.EventMetric)
	if err != nil {
		return err
	}
	// The current stream: a record whose seq is not above the last one
	// replaces it and those after it (a resumed run redoes those steps).
	var stream []shared.Metric
	for _, ev := range evs {
		for len(stream) > 0 && stream[len(stream)-1].Seq >= ev.Metric.Seq {
			stream = stream[:len(stream)-1]
		}
		stream = append(stream, *ev.Metric)
	}
	v := s.viewOf(c)
	out := []shared.Metric{}
	for _, m := range stream {
		if kind == "" || m.Kind == kind {
			m.Message = v.text(m.Message)
			out = append(out, m)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) runEvents(w http.ResponseWriter, r *http.Request, c *Call) error {
	after, err := queryInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 10000, 1, maxEvents)
	if err != nil {
		return err
	}
	j, err := s.pathRun(r)
	if err != nil {
		return err
	}
	evs, err := s.st.Events(r.Context(), j.ID, int64(after), limit)
	if err != nil {
		return err
	}
	v := s.viewOf(c)
	for i, ev := range evs {
		evs[i] = v.event(ev)
	}
	writeJSON(w, http.StatusOK, evs)
	return nil
}

func (s *Server) runLogs(w http.ResponseWriter, r *http.Request, c *Call) error {
	n, err := queryInt(r, "tail", 200, 1, 100000)
	if err != nil {
		return err
	}
	j, err := s.pathRun(r)
	if err != nil {
		return err
	}
	evs, err := s.st.LastEvents(r.Context(), j.ID, shared.EventLog, n)
	if err != nil {
		return err
	}
	v := s.viewOf(c)
	out := make([]shared.LogLine, len(evs))
	for i, ev := range evs {
		out[i] = *v.event(ev).Log
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) runCheckpoints(w http.ResponseWriter, r *http.Request, c *Call) error {
	j, err := s.pathRun(r)
	if err != nil {
		return err
	}
	cs, err := s.st.Checkpoints(r.Context(), store.CheckpointFilter{Run: j.ID})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkpointDTOs(cs))
	return nil
}

func checkpointDTOs(cs []store.Checkpoint) []shared.Checkpoint {
	out := make([]shared.Checkpoint, len(cs))
	for i, c := range cs {
		out[i] = c.Checkpoint
	}
	return out
}

// resultRows reads the test results of a finished classifier run.
func (s *Server) resultRows(r *http.Request, j store.Run, roc bool) ([]shared.ResultRow, error) {
	rep, err := layout.Run(s.abs(j.Dir)).ReadReport()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", j.ID, err)
	}
	cks, err := s.st.Checkpoints(r.Context(), store.CheckpointFilter{Run: j.ID})
	if err != nil {
		return nil, err
	}
	pretrain := ""
	var p jobs.Params
	if json.Unmarshal(j.Params, &p) == nil && p.Checkpoint != 0 {
		if ck, err := s.st.Checkpoint(r.Context(), p.Checkpoint); err == nil {
			if src, err := s.st.Run(r.Context(), ck.Run); err == nil && src.Kind == shared.KindImport {
				pretrain = "imported"
			} else if err == nil {
				if cfg, err := config.Parse([]byte(src.Config)); err == nil {
					pretrain = string(cfg.Experiment.Method)
				}
			}
		}
	}
	var rows []shared.ResultRow
	for _, m := range []struct {
		name  string
		epoch int
		rep   eval.Report
	}{{"last", rep.Last.Epoch, rep.Last.Test}, {"best", rep.Best.Epoch, rep.Best.Test}} {
		row := shared.ResultRow{Run: j.ID, RunName: j.Name, Method: rep.Method, Pretrain: pretrain, Backbone: rep.Backbone, Labels: rep.Labels,
			TrainImages: rep.TrainImages, LinearProbe: rep.LinearProbe, Model: m.name, Epoch: m.epoch,
			N: m.rep.N, Accuracy: m.rep.Accuracy, AUC: m.rep.AUC, TPRAt1: m.rep.TPRAt1, TPRAt01: m.rep.TPRAt01, TPR0: m.rep.TPR0}
		row.AccuracyCI, row.AUCCI = intervalDTO(m.rep.AccuracyCI), intervalDTO(m.rep.AUCCI)
		for _, ck := range cks {
			if ck.Name == m.name {
				row.Checkpoint = ck.ID
			}
		}
		if roc {
			row.ROC = rocDTO(m.rep.ROC)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (s *Server) results(w http.ResponseWriter, r *http.Request, c *Call) error {
	js, err := s.st.Runs(r.Context(), store.RunFilter{Kind: shared.KindFinetune, States: []shared.RunState{shared.StateSucceeded}})
	if err != nil {
		return err
	}
	roc := r.URL.Query().Get("roc") == "1"
	out := shared.Results{Rows: []shared.ResultRow{}}
	for _, j := range js {
		rows, err := s.resultRows(r, j, roc)
		if err != nil {
			return err
		}
		out.Rows = append(out.Rows, rows...)
	}
	if out.Reproductions, err = s.reproductions(r, roc); err != nil {
		return err
	}
	if out.Reference, err = reference(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) runResults(w http.ResponseWriter, r *http.Request, c *Call) error {
	id, err := pathID(r, "run")
	if err != nil {
		return err
	}
	j, err := s.st.Run(r.Context(), id)
	if err != nil {
		return err
	}
	rows, err := s.resultRows(r, j, true)
	if err != nil {
		return err
	}
	if rows == nil {
		return errNotFound("run %d has no report yet", j.ID)
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}
