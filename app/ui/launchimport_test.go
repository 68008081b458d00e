package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// importAPI answers the launch page: one succeeded import run with its
// checkpoint, one classifier, and POST /api/runs refusing a missing
// weights file and a missing survey folder.
func importAPI(t *testing.T) (*Env, func() []shared.CreateRunRequest, func() []shared.CreateDatasetRequest) {
	t.Helper()
	var mu sync.Mutex
	var posted []shared.CreateRunRequest
	var datasets []shared.CreateDatasetRequest
	js := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/configs", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, []shared.ConfigTemplate{{Name: "finetune-vit-tiny", Method: "finetune", Kind: shared.KindFinetune,
			YAML: "experiment:\n  ssl_training: finetune\nnetwork:\n  backbone: vit_tiny\n"}})
	})
	mux.HandleFunc("GET /api/datasets", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, []shared.Dataset{{ID: 1, Name: "sim", State: shared.DatasetReady, Images: 10}})
	})
	mux.HandleFunc("POST /api/configs/validate", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, shared.ValidateConfigResponse{OK: true, Method: "finetune", Kind: shared.KindFinetune})
	})
	mux.HandleFunc("GET /api/runs", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("kind") == string(shared.KindImport) && r.URL.Query().Get("state") == string(shared.StateSucceeded) {
			js(w, 200, []shared.Run{{ID: 5, Kind: shared.KindImport, Name: "import dino", State: shared.StateSucceeded}})
			return
		}
		js(w, 200, []shared.Run{})
	})
	mux.HandleFunc("GET /api/models", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, shared.ModelStatus{Ready: true, Default: 9, Checkpoints: []shared.Checkpoint{{ID: 9, Run: 4, RunName: "sup", Name: "best", Preset: "vit_nano", Classifier: true, Epoch: 3}}})
	})
	mux.HandleFunc("GET /api/runs/5/checkpoints", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, []shared.Checkpoint{{ID: 8, Run: 5, RunName: "import dino", Name: "last", Preset: "vit_d384_depth12_heads6"}})
	})
	mux.HandleFunc("POST /api/runs", func(w http.ResponseWriter, r *http.Request) {
		var req shared.CreateRunRequest
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		posted = append(posted, req)
		mu.Unlock()
		if req.Import != nil && req.Import.Source == "weights/missing.pth" {
			js(w, 422, shared.Error{Err: shared.ErrorBody{Code: shared.CodeInvalid, Message: "the weights cannot be imported",
				Fields: []shared.FieldError{{Key: "import.source", Message: "no file weights/missing.pth in the data folder"}}}})
			return
		}
		if req.Survey != nil && slices.Contains(req.Survey.Paths, "hsc/missing") {
			js(w, 422, shared.Error{Err: shared.ErrorBody{Code: shared.CodeInvalid, Message: "the cutouts cannot be scored",
				Fields: []shared.FieldError{{Key: "survey.paths", Message: "no hsc/missing in the data folder"}}}})
			return
		}
		js(w, 201, shared.Run{ID: 6, Kind: req.Kind, State: shared.StateQueued})
	})
	mux.HandleFunc("POST /api/datasets", func(w http.ResponseWriter, r *http.Request) {
		var req shared.CreateDatasetRequest
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		datasets = append(datasets, req)
		mu.Unlock()
		if req.Import != nil && req.Import.Source == "surveys/missing" {
			js(w, 422, shared.Error{Err: shared.ErrorBody{Code: shared.CodeInvalid, Message: "the cutouts cannot be imported",
				Fields: []shared.FieldError{{Key: "import.source", Message: "no surveys/missing in the data folder"}}}})
			return
		}
		js(w, 202, shared.Run{ID: 7, Kind: shared.KindImportData, State: shared.StateQueued})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	env := NewEnv(api.New(srv.URL, nil))
	env.sess = &shared.Session{User: shared.User{Name: "ada", Role: shared.RoleAdmin}, CSRFToken: "tok"}
	return env, func() []shared.CreateRunRequest {
			mu.Lock()
			defer mu.Unlock()
			return append([]shared.CreateRunRequest(nil), posted...)
		}, func() []shared.CreateDatasetRequest {
			mu.Lock()
			defer mu.Unlock()
			return append([]shared.CreateDatasetRequest(nil), datasets...)
		}
}

// An imported backbone is offered to fine-tune from like a pretrained one.
func TestLaunchListsImportedBackbones(t *testing.T) {
	env, _, _ := importAPI(t)
	l := &Launch{page: page{env: env}}
	disp := open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })
	if len(l.checkpoints) != 1 || l.checkpoints[0].ID != 8 {
		t.Fatalf("backbones %+v", l.checkpoints)
	}
	mustContain(t, htmlOf(l), `id="l-checkpoint"`, "import dino · vit_d384_depth12_heads6 · last<", `id="import-form"`, "Import pretrained weights")
}

// The import form refuses a path outside the data folder before asking
// the server, shows the server's refusal by field, and sends the choices.
func TestLaunchImportForm(t *testing.T) {
	env, posted, _ := importAPI(t)
	l := &Launch{page: page{env: env}}
	disp := open(t, l, "/launch")
	settle(t, disp, func() bool { return l.validated })
	submit := func(source, heads string) {
		t.Helper()
		disp.Dispatch(app.Dispatch{Source: l, Function: func(ctx app.Context) {
			l.imp.source, l.imp.heads, l.imp.from = source, heads, "student"
			l.submitImport(ctx)
		}})
		disp.Consume()
		settle(t, disp, func() bool { return !l.imp.busy })
	}
	for _, bad := range []struct{ source, heads, key, want string }{
		{"/srv/weights/dino.pth", "", "import.source", "absolute path"},
		{"../dino.pth", "", "import.source", `contains ".."`},
		{"weights/dino.pth", "six", "import.heads", "want a whole number"},
	} {
		submit(bad.source, bad.heads)
		if len(l.imp.errs) != 1 || l.imp.errs[0].Key != bad.key || !strings.Contains(l.imp.errs[0].Message, bad.want) {
			t.Errorf("%q heads %q: errors %+v", bad.source, bad.heads, l.imp.errs)
		}
	}
	if n := len(posted()); n != 0 {
		t.Fatalf("%d requests sent for paths refused in the form", n)
	}
	submit("weights/missing.pth", "")
	mustContain(t, htmlOf(l), `data-key="import.source"`, "no file weights/missing.pth in the data folder")

	submit(" weights/dino.pth ", "6")
	reqs := posted()
	if len(reqs) != 2 || len(l.imp.errs) != 0 {
		t.Fatalf("requests %+v, errors %+v", reqs, l.imp.errs)
	}
	if r := reqs[1]; r.Kind != shared.KindImport || r.Config != "" || r.Import == nil ||
		*r.Import != (shared.ImportRequest{Source: "weights/dino.pth", Heads: 6, From: "student"}) {
		t.Errorf("request %+v", r)
	}
}
