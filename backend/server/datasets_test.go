package server

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/shared"
)

func TestDatasets(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	var ds []shared.Dataset
	if code := c.json("GET", "/api/datasets", nil, &ds); code != 200 || len(ds) != 1 {
		t.Fatalf("datasets: %d %+v", code, ds)
	}
	d := ds[0]
	if d.State != shared.DatasetReady || d.Images != 12 || d.Lenses != 6 || d.Splits["val"] != (shared.ClassCount{Lenses: 2, NonLenses: 2}) ||
		!slices.Contains(d.SortKeys, "theta_e") || !slices.Contains(d.SortKeys, "lens_mag_i") {
		t.Errorf("dataset %+v", d)
	}
	var one shared.Dataset
	if code := c.json("GET", "/api/datasets/1", nil, &one); code != 200 || one.Name != "tiny" {
		t.Errorf("dataset 1: %d %+v", code, one)
	}
	for path, want := range map[string]int{"/api/datasets/2": 404, "/api/datasets/x": 400, "/api/datasets/-1": 400} {
		if code, _ := c.apiErr("GET", path, "", nil); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
}

func TestImagePages(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	tests := []struct {
		query   string
		total   int
		n       int
		check   func([]shared.ImageSummary) bool
		comment string
	}{
		{"", 12, 12, func(ims []shared.ImageSummary) bool {
			return ims[0].Class == shared.ClassLens && ims[11].Class == shared.ClassNonLens
		}, "lenses first"},
		{"?per_page=5&page=3", 12, 2, nil, "last page"},
		{"?per_page=5&page=4", 12, 0, nil, "past the end"},
		{"?split=val", 4, 4, func(ims []shared.ImageSummary) bool {
			return allOf(ims, func(s shared.ImageSummary) bool { return s.Split == "val" })
		}, "split"},
		{"?class=nonlenses&split=test", 2, 2, func(ims []shared.ImageSummary) bool {
			return allOf(ims, func(s shared.ImageSummary) bool { return s.Class == shared.ClassNonLens && s.Kind != "lens" })
		}, "class"},
		{"?sort=theta_e&order=desc", 12, 12, func(ims []shared.ImageSummary) bool {
			// lenses by decreasing Einstein radius, then the non-lenses without one
			for i := 1; i < 6; i++ {
				if ims[i].Params["theta_e"] > ims[i-1].Params["theta_e"] {
					return false
				}
			}
			_, has := ims[6].Params["theta_e"]
			return !has
		}, "sort by a lens parameter"},
		{"?sort=name&order=desc", 12, 12, func(ims []shared.ImageSummary) bool { return ims[0].Class == shared.ClassNonLens }, "reverse"},
	}
	for _, tt := range tests {
		var p shared.ImagePage
		if code := c.json("GET", "/api/datasets/1/images"+tt.query, nil, &p); code != 200 {
			t.Errorf("%s: status %d", tt.comment, code)
			continue
		}
		if p.Total != tt.total || len(p.Images) != tt.n || (tt.check != nil && !tt.check(p.Images)) {
			t.Errorf("%s (%s): total %d, %d images %+v", tt.comment, tt.query, p.Total, len(p.Images), p.Images)
		}
	}
	for _, q := range []string{"?split=all", "?class=cats", "?sort=colour", "?order=up", "?page=0", "?per_page=501", "?page=x"} {
		if code, e := c.apiErr("GET", "/api/datasets/1/images"+q, "", nil); code != 400 || e.Code != shared.CodeBadRequest {
			t.Errorf("%s: %d %q, want 400", q, code, e.Code)
		}
	}
}

func allOf[T any](s []T, ok func(T) bool) bool {
	for _, v := range s {
		if !ok(v) {
			return false
		}
	}
	return len(s) > 0
}

func TestImageDetailAndPNG(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	id := f.dsIx.images[0].ID
	var det shared.ImageDetail
	if code := c.json("GET", "/api/datasets/1/images/"+id+"?pixels=1", nil, &det); code != 200 {
		t.Fatalf("detail: %d", code)
	}
	if det.ID != id || det.Size != [3]int{3, 48, 48} || len(det.Bands) != 3 || det.Bands[2].Band != "i" ||
		len(det.Pixels) != 3 || len(det.Pixels[0]) != 48*48 || det.Params["theta_e"] == 0 {
		t.Errorf("detail %+v", det.ImageSummary)
	}
	for _, b := range det.Bands {
		if !(b.Min <= b.P01 && b.P01 <= b.Median && b.Median <= b.P99 && b.P99 <= b.Max && b.Std > 0) {
			t.Errorf("band stats out of order: %+v", b)
		}
	}
	var plain shared.ImageDetail
	c.json("GET", "/api/datasets/1/images/"+id, nil, &plain)
	if plain.Pixels != nil {
		t.Error("pixels sent without ?pixels=1")
	}

	pngTests := []struct {
		query string
		side  int
	}{{"", 48}, {"?scale=2", 96}, {"?band=g&stretch=log", 48}, {"?band=rgb&stretch=sqrt&crop=32&scale=3", 96}}
	for _, tt := range pngTests {
		resp := c.request("GET", "/api/datasets/1/images/"+id+"/png"+tt.query, nil, "")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
			t.Errorf("png%s: %d %s", tt.query, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() != tt.side {
			t.Errorf("png%s: %v, size %v, want side %d", tt.query, err, img.Bounds(), tt.side)
		}
		// The same request again is a 304 with the ETag, and was cached.
		etag := resp.Header.Get("ETag")
		again := c.request("GET", "/api/datasets/1/images/"+id+"/png"+tt.query, nil, "", "If-None-Match", etag)
		again.Body.Close()
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("png%s with its ETag: %d, want 304", tt.query, again.StatusCode)
		}
		if _, err := os.Stat(filepath.Join(f.dir, "cache", "png", strings.Trim(etag, `"`)[:2], strings.Trim(etag, `"`)+".png")); err != nil {
			t.Errorf("png%s not cached: %v", tt.query, err)
		}
	}
	bad := []struct {
		path string
		code int
	}{
		{"/api/datasets/1/images/lenses/nope.npy", 404},
		{"/api/datasets/1/images/cats/" + strings.TrimPrefix(id, "lenses/"), 404},
		{"/api/datasets/1/images/lenses/..%2F..%2Fsslens.db", 404},
		{"/api/datasets/1/images/..%2F..%2F/sslens.db/png", 404},
		{"/api/datasets/1/images/" + id + "/png?band=x", 400},
		{"/api/datasets/1/images/" + id + "/png?stretch=gamma", 400},
		{"/api/datasets/1/images/" + id + "/png?scale=17", 400},
		{"/api/datasets/1/images/" + id + "/png?q=0", 400},
		{"/api/datasets/1/images/" + id + "/png?soft=NaN", 400},
		{"/api/datasets/1/images/" + id + "/png?q=1e9", 400},
	}
	for _, b := range bad {
		if code, _ := c.apiErr("GET", b.path, "", nil); code != b.code {
			t.Errorf("%s: %d, want %d", b.path, code, b.code)
		}
	}
	// The composite's Lupton Q and stretch change the picture and its ETag.
	png := func(q string) (string, []byte) {
		res := c.request("GET", "/api/datasets/1/images/"+id+"/png"+q, nil, "")
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.Header.Get("ETag"), b
	}
	e1, b1 := png("")
	e2, b2 := png("?q=2&soft=0.05")
	if e1 == e2 || bytes.Equal(b1, b2) || len(b2) == 0 {
		t.Errorf("q and soft change nothing: %s %s", e1, e2)
	}
}

func TestNaturalCompare(t *testing.T) {
	names := []string{"10.npy", "2.npy", "b.npy", "1.npy", "a.npy", "2.fits"}
	slices.SortFunc(names, naturalCompare)
	want := []string{"1.npy", "2.fits", "2.npy", "10.npy", "a.npy", "b.npy"}
	if !slices.Equal(names, want) {
		t.Errorf("sorted %v, want %v", names, want)
	}
}

func TestCreateDataset(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	var run shared.Run
	if code := adm.json("POST", "/api/datasets", shared.CreateDatasetRequest{Name: "small-1", Counts: "small", Seed: 2}, &run); code != http.StatusAccepted {
		t.Fatalf("create: %d", code)
	}
	var d shared.Dataset
	adm.json("GET", "/api/datasets/2", nil, &d)
	if d.Name != "small-1" || d.Job != run.ID || (d.State != shared.DatasetBuilding && d.State != shared.DatasetReady) {
		t.Errorf("new dataset %+v", d)
	}
	// A run on the dataset being built waits for it.
	var ft shared.Run
	if code := adm.json("POST", "/api/runs", shared.CreateRunRequest{Kind: shared.KindFinetune, Dataset: 2, Config: baseline(t, "# steps: 2")}, &ft); code != 201 || ft.After != run.ID {
		t.Errorf("run on a building dataset: %d, after %d, want after %d", code, ft.After, run.ID)
	}
	sim := f.waitRun(t, run.ID, shared.StateSucceeded)
	if j := f.waitRun(t, ft.ID, shared.StateSucceeded); j.Started.Before(*sim.Finished) {
		t.Error("the run started before its dataset was built")
	}
	adm.json("GET", "/api/datasets/2", nil, &d)
	if d.State != shared.DatasetReady || d.Images != 303 {
		t.Errorf("built dataset %+v", d)
	}
	for _, req := range []shared.CreateDatasetRequest{{Name: "../x"}, {Name: "ok", Counts: "huge"}, {Name: "ok", Survey: "euclid"}} {
		body, _ := json.Marshal(req)
		if code, e := adm.apiErr("POST", "/api/datasets", "application/json", body); code != 422 || len(e.Fields) == 0 {
			t.Errorf("%+v: %d %+v, want 422 with a field", req, code, e)
		}
	}
	body, _ := json.Marshal(shared.CreateDatasetRequest{Name: "small-1"})
	if code, _ := adm.apiErr("POST", "/api/datasets", "application/json", body); code != 409 {
		t.Errorf("duplicate name: %d, want 409", code)
	}
	var log []shared.AuditEntry
	adm.json("GET", "/api/audit", nil, &log)
	if len(log) != 2 || log[1].Action != "dataset.create" {
		t.Errorf("audit %+v", log)
	}
}
