package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/scoring"
	"github.com/sslens/sslens/shared"
)

// TestSurveyRun: an admin scores a folder of the data folder into a
// catalogue; requests naming what cannot be scored are refused by field
// and change nothing; the catalogue lists the files, the top of the
// ranking (paths relative to the data folder) and serves each file.
func TestSurveyRun(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	astro := f.login(t, astroUser)
	baseline := f.trainedBaseline(t, adm, 2)
	var ms shared.ModelStatus
	adm.json("GET", "/api/models", nil, &ms)
	if !ms.Ready {
		t.Fatalf("no model: %+v", ms)
	}
	// An imported backbone, which cannot score.
	b, err := os.ReadFile(filepath.Join("..", "nn", "pretrained", "testdata", "dino_vit_p8_224.pth"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(f.dir, "weights"), 0o755)
	if err := os.WriteFile(filepath.Join(f.dir, "weights", "dino.pth"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	imp := adm.createRun(shared.CreateRunRequest{Kind: shared.KindImport, Import: &shared.ImportRequest{Source: "weights/dino.pth", Heads: 3}})
	f.waitRun(t, imp.ID, shared.StateSucceeded)
	var cks []shared.Checkpoint
	adm.json("GET", fmt.Sprintf("/api/runs/%d/checkpoints", imp.ID), nil, &cks)
	if len(cks) != 1 || cks[0].Classifier {
		t.Fatalf("imported checkpoints %+v", cks)
	}
	backbone := cks[0]

	dir := filepath.Join(f.dir, "hsc", "pdr3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := range 7 {
		if err := data.WriteNPY(filepath.Join(dir, fmt.Sprintf("c%d.npy", k)), testCutout(24, 24, float32(k))); err != nil {
			t.Fatal(err)
		}
	}
	before := f.fingerprint(t)
	survey := func(r shared.SurveyRequest) *shared.SurveyRequest { return &r }
	for _, tc := range []struct {
		name string
		req  shared.CreateRunRequest
		key  string
		want string
	}{
		{"nothing", shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: ms.Default}, "survey.paths", "give a folder"},
		{"no checkpoint", shared.CreateRunRequest{Kind: shared.KindSurvey, Survey: survey(shared.SurveyRequest{Paths: []string{"hsc"}})}, "checkpoint", "choose a classifier"},
		{"unknown checkpoint", shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: 999, Survey: survey(shared.SurveyRequest{Paths: []string{"hsc"}})}, "checkpoint", "no checkpoint 999"},
		{"backbone", shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: backbone.ID, Survey: survey(shared.SurveyRequest{Paths: []string{"hsc"}})}, "checkpoint", "without a classifier head"},
		{"absolute", shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: ms.Default, Survey: survey(shared.SurveyRequest{Paths: []string{dir}})}, "survey.paths", "absolute path"},
		{"missing", shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: ms.Default, Survey: survey(shared.SurveyRequest{Paths: []string{"hsc/pdr4"}})}, "survey.paths", "no hsc/pdr4 in the data folder"},
		{"list missing", shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: ms.Default, Survey: survey(shared.SurveyRequest{Lists: []string{"hsc/list.txt"}})}, "survey.lists", "no hsc/list.txt"},
		{"shards here", shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: ms.Default, Survey: survey(shared.SurveyRequest{Paths: []string{"hsc"}, Shards: 4})}, "survey.shards", "Slurm jobs"},
		{"with a dataset", shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: ms.Default, Dataset: f.ds, Survey: survey(shared.SurveyRequest{Paths: []string{"hsc"}})}, "kind", "checkpoint and cutouts"},
	} {
		code, e := adm.apiErr("POST", "/api/runs", "application/json", []byte(mustJSON(tc.req)))
		if code != 422 || !slices.ContainsFunc(e.Fields, func(fe shared.FieldError) bool { return fe.Key == tc.key && strings.Contains(fe.Message, tc.want) }) {
			t.Errorf("%s: %d %+v, want 422 on %s saying %q", tc.name, code, e, tc.key, tc.want)
		}
	}
	ok := shared.CreateRunRequest{Kind: shared.KindSurvey, Checkpoint: ms.Default, Survey: survey(shared.SurveyRequest{Paths: []string{"hsc/pdr3"}})}
	if code, _ := astro.apiErr("POST", "/api/runs", "application/json", []byte(mustJSON(ok))); code != 403 {
		t.Errorf("an astronomer's survey: %d, want 403", code)
	}
	if after := f.fingerprint(t); after != before {
		t.Errorf("refused surveys changed state:\n%s\n%s", before, after)
	}

	run := adm.createRun(ok)
	if run.Kind != shared.KindSurvey || run.Name != "score hsc/pdr3" {
		t.Errorf("created %+v", run)
	}
	j := f.waitRun(t, run.ID, shared.StateSucceeded)
	if p := j.Progress; p == nil || p.Unit != "files" || p.Done != 7 || p.Total != 7 {
		t.Errorf("progress %+v, want 7 of 7 files", p)
	}
	var cat shared.Catalogue
	if code := astro.json("GET", fmt.Sprintf("/api/runs/%d/catalogue", run.ID), nil, &cat); code != 200 {
		t.Fatalf("catalogue: %d", code)
	}
	var names []string
	for _, fl := range cat.Files {
		names = append(names, fl.Name)
		if fl.Bytes <= 0 {
			t.Errorf("%s has %d bytes", fl.Name, fl.Bytes)
		}
	}
	if !slices.Equal(names, []string{scoring.RankedFile, scoring.RankedFITS, scoring.RankedVOTable, scoring.ScoresFile}) {
		t.Errorf("catalogue files %q", names)
	}
	if len(cat.Top) != 7 {
		t.Fatalf("top %+v, want 7 rows", cat.Top)
	}
	for i, r := range cat.Top {
		if r.Rank != int64(i+1) || !strings.HasPrefix(r.File, "hsc/pdr3/c") || (i > 0 && r.LensProb > cat.Top[i-1].LensProb) || r.RA != nil {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	resp := astro.request("GET", fmt.Sprintf("/api/runs/%d/catalogue/ranked.csv", run.ID), nil, "")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	onDisk, _ := os.ReadFile(filepath.Join(f.dir, j.Dir, scoring.RankedFile))
	if resp.StatusCode != 200 || string(body) != string(onDisk) || !strings.Contains(resp.Header.Get("Content-Disposition"), `filename="ranked.csv"`) {
		t.Errorf("ranked.csv download: %d %q", resp.StatusCode, resp.Header)
	}
	for _, bad := range []string{
		fmt.Sprintf("/api/runs/%d/catalogue/stdout.log", run.ID),
		fmt.Sprintf("/api/runs/%d/catalogue/..%%2Fsslens.db", run.ID),
		fmt.Sprintf("/api/runs/%d/catalogue", baseline.ID),
	} {
		if code, _ := astro.apiErr("GET", bad, "", nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, code)
		}
	}
}
