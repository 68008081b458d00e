package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/shared"
)

// fixtures is the importer's test data: archives and a FITS tree written
// by numpy and astropy.
const fixtures = "../dataimport/testdata"

// TestImportDataset uploads an archive of cutouts and imports it, imports
// a folder already on the server, browses both, and refuses bad imports by
// field.
func TestImportDataset(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	archive, err := os.ReadFile(filepath.Join(fixtures, "archive.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	resp := adm.request("POST", "/api/datasets/archives?name=cutouts.tar.gz", strings.NewReader(string(archive)), "application/octet-stream")
	var up shared.ArchiveUpload
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.HasSuffix(up.Path, "/cutouts.tar.gz") || up.Bytes != int64(len(archive)) {
		t.Fatalf("archive upload: %d %+v", resp.StatusCode, up)
	}
	if b, err := os.ReadFile(filepath.Join(f.dir, up.Path)); err != nil || string(b) != string(archive) {
		t.Fatalf("stored archive differs (%v)", err)
	}

	var run shared.Run
	if code := adm.json("POST", "/api/datasets", shared.CreateDatasetRequest{Name: "survey-x", Import: &shared.ImportDataRequest{Source: up.Path, Seed: 4}}, &run); code != http.StatusAccepted {
		t.Fatalf("import: %d", code)
	}
	j := f.waitRun(t, run.ID, shared.StateSucceeded)
	if p := j.Progress; p == nil || p.Unit != "files" || p.Done != 3 {
		t.Errorf("import progress %+v, want 3 files", p)
	}
	var list []shared.Dataset
	adm.json("GET", "/api/datasets", nil, &list)
	d := list[len(list)-1]
	if d.Name != "survey-x" || d.Kind != "imported" || d.Source != up.Path || d.State != shared.DatasetReady ||
		d.Lenses != 2 || d.NonLenses != 1 || d.Unlabelled != 0 || len(d.Splits) != 3 {
		t.Errorf("imported dataset %+v", d)
	}

	// A folder on the server: unlabelled.
	if err := exec.Command("cp", "-r", filepath.Join(fixtures, "fits-tree"), filepath.Join(f.dir, "hsc-tree")).Run(); err != nil {
		t.Fatal(err)
	}
	if code := adm.json("POST", "/api/datasets", shared.CreateDatasetRequest{Name: "hsc", Import: &shared.ImportDataRequest{Source: "hsc-tree"}}, &run); code != http.StatusAccepted {
		t.Fatalf("folder import: %d", code)
	}
	f.waitRun(t, run.ID, shared.StateSucceeded)
	adm.json("GET", "/api/datasets", nil, &list)
	d = list[len(list)-1]
	if d.Unlabelled != 5 || d.Lenses+d.NonLenses != 0 || d.Splits["train"].Unlabelled == 0 {
		t.Errorf("unlabelled dataset %+v", d)
	}
	var page shared.ImagePage
	adm.json("GET", fmt.Sprintf("/api/datasets/%d/images?class=unlabelled", d.ID), nil, &page)
	if page.Total != 5 || page.Images[0].Class != shared.ClassUnlabelled || page.Images[0].Params["ra"] == 0 {
		t.Errorf("unlabelled images %+v", page)
	}

	var views shared.PreviewResponse
	if code := adm.json("POST", "/api/preview", shared.PreviewRequest{Dataset: d.ID, Image: page.Images[0].ID, Template: "reference/dino-vit-small", Seed: 1}, &views); code != http.StatusOK || len(views.Views) == 0 {
		t.Errorf("preview of %s: %d, %d views", page.Images[0].ID, code, len(views.Views))
	}

	// Similar images in the unlabelled survey, with a classifier trained
	// on the simulated data.
	f.trainedBaseline(t, adm, 2)
	code, ups, _ := adm.upload([]part{{"cand.npy", npyOf(testCutout(40, 40, 3))}})
	if code != http.StatusOK || len(ups.Uploads) != 1 {
		t.Fatalf("upload: %d %+v", code, ups)
	}
	var sim shared.Similar
	if code := adm.json("GET", fmt.Sprintf("/api/uploads/%d/similar?k=3&dataset=%d", ups.Uploads[0].ID, d.ID), nil, &sim); code != http.StatusOK ||
		len(sim.Neighbours) != 3 || sim.Neighbours[0].Dataset != d.ID || sim.Neighbours[0].Class != shared.ClassUnlabelled {
		t.Errorf("similar in the survey: %d %+v", code, sim)
	}

	os.WriteFile(filepath.Join(f.dir, "notes.txt"), []byte("x"), 0o644)
	for _, tc := range []struct {
		req   shared.CreateDatasetRequest
		field string
	}{
		{shared.CreateDatasetRequest{Name: "a", Import: &shared.ImportDataRequest{}}, "import.source"},
		{shared.CreateDatasetRequest{Name: "a", Import: &shared.ImportDataRequest{Source: "../etc"}}, "import.source"},
		{shared.CreateDatasetRequest{Name: "a", Import: &shared.ImportDataRequest{Source: "missing"}}, "import.source"},
		{shared.CreateDatasetRequest{Name: "a", Import: &shared.ImportDataRequest{Source: "notes.txt"}}, "import.source"},
		{shared.CreateDatasetRequest{Name: "a", Import: &shared.ImportDataRequest{Source: "hsc-tree", Splits: []float64{0, 1, 1}}}, "import.splits"},
		{shared.CreateDatasetRequest{Name: "a", Import: &shared.ImportDataRequest{Source: "hsc-tree", Splits: []float64{1}}}, "import.splits"},
		{shared.CreateDatasetRequest{Name: "a", Import: &shared.ImportDataRequest{Source: "hsc-tree", SameObject: 5, GroupRadius: 2}}, "import.group_radius"},
		{shared.CreateDatasetRequest{Name: "a", Counts: "small", Import: &shared.ImportDataRequest{Source: "hsc-tree"}}, "survey/counts"},
	} {
		body, _ := json.Marshal(tc.req)
		code, e := adm.apiErr("POST", "/api/datasets", "application/json", body)
		if code != 422 || len(e.Fields) == 0 || e.Fields[0].Key != tc.field {
			t.Errorf("%+v: %d %+v, want 422 on %s", tc.req.Import, code, e, tc.field)
		}
	}
	if code, e := adm.apiErr("POST", "/api/datasets/archives?name=x.rar", "application/octet-stream", []byte("Rar!")); code != 422 || e.Fields[0].Key != "name" {
		t.Errorf("a .rar archive: %d %+v", code, e)
	}
	astro := f.login(t, astroUser)
	if code, _ := astro.apiErr("POST", "/api/datasets/archives?name=x.zip", "application/octet-stream", archive); code != http.StatusForbidden {
		t.Errorf("an astronomer's archive upload: %d, want 403", code)
	}
	var log []shared.AuditEntry
	adm.json("GET", "/api/audit", nil, &log)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "archive.upload") || strings.Count(got, "dataset.import") != 2 {
		t.Errorf("audit actions %q", got)
	}
}

// TestGradedDataset makes a labelled dataset from the grades: consensus A
// or B a lens, 0 from two graders a non-lens, the rest left out and
// counted, the rule and every grade kept in provenance.json.
func TestGradedDataset(t *testing.T) {
	f := newFixture(t, HubOptions{})
	vera := f.login(t, astroUser)
	ada := f.login(t, adminUser)
	var files []part
	for i := range 5 {
		files = append(files, part{fmt.Sprintf("c%d.npy", i), npyOf(testCutout(40, 40, float32(i)))})
	}
	code, resp, _ := vera.upload(files)
	if code != http.StatusOK || len(resp.Uploads) != 5 {
		t.Fatalf("upload: %d %+v", code, resp)
	}
	id := func(i int) int64 { return resp.Uploads[i].ID }
	for _, g := range []struct {
		who    *browser
		upload int
		grade  string
	}{
		{ada, 0, "A"}, {vera, 0, "B"}, // a lens
		{ada, 1, "0"}, {vera, 1, "0"}, // a non-lens
		{ada, 2, "C"}, // left out: C
		{ada, 3, "0"}, // left out: one grader of 0
	} {
		if code := g.who.json("PUT", fmt.Sprintf("/api/uploads/%d/grade", id(g.upload)), shared.GradeRequest{Grade: g.grade}, nil); code != http.StatusOK {
			t.Fatalf("grade: %d", code)
		}
	}
	var run shared.Run
	if code := ada.json("POST", "/api/datasets", shared.CreateDatasetRequest{Name: "graded-1", FromGrades: &shared.GradedSetRequest{}}, &run); code != http.StatusAccepted {
		t.Fatalf("graded set: %d", code)
	}
	f.waitRun(t, run.ID, shared.StateSucceeded)
	var list []shared.Dataset
	ada.json("GET", "/api/datasets", nil, &list)
	if d := list[len(list)-1]; d.Name != "graded-1" || d.Kind != "graded" || d.Lenses != 1 || d.NonLenses != 1 {
		t.Errorf("graded dataset %+v", d)
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "datasets", "graded-1", "provenance.json"))
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Rule       shared.GradedSetRequest `json:"rule"`
		By         string                  `json:"by"`
		LeftOut    map[string]int          `json:"left_out"`
		Candidates []struct {
			Upload int64          `json:"upload"`
			Class  string         `json:"class"`
			Grades []shared.Grade `json:"grades"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(b, &prov); err != nil {
		t.Fatal(err)
	}
	class := map[int64]string{}
	for _, c := range prov.Candidates {
		if len(c.Grades) == 2 {
			class[c.Upload] = c.Class
		}
	}
	if prov.By != adminUser || len(prov.Rule.LensClasses) != 2 || prov.Rule.MinNonLensGraders != 2 || len(prov.Candidates) != 2 ||
		class[id(0)] != "lenses" || class[id(1)] != "nonlenses" ||
		prov.LeftOut["consensus C"] != 1 || prov.LeftOut["graded 0 by fewer than 2 graders"] != 1 || prov.LeftOut["ungraded"] != 1 {
		t.Errorf("provenance %s", b)
	}
	for _, tc := range []struct {
		req   shared.CreateDatasetRequest
		field string
	}{
		{shared.CreateDatasetRequest{Name: "g2", FromGrades: &shared.GradedSetRequest{LensClasses: []string{"D"}}}, "from_grades.lens_classes"},
		{shared.CreateDatasetRequest{Name: "g2", FromGrades: &shared.GradedSetRequest{MinLensGraders: 3}}, "from_grades"},
		{shared.CreateDatasetRequest{Name: "g2", FromGrades: &shared.GradedSetRequest{}, Import: &shared.ImportDataRequest{Source: "x"}}, "import"},
	} {
		body, _ := json.Marshal(tc.req)
		code, e := ada.apiErr("POST", "/api/datasets", "application/json", body)
		if code != 422 || len(e.Fields) == 0 || e.Fields[0].Key != tc.field {
			t.Errorf("%+v: %d %+v, want 422 on %s", tc.req.FromGrades, code, e, tc.field)
		}
	}
}
