package server

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/astrogo/fitsio"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/jobs/jobstest"
	"github.com/sslens/sslens/backend/uploads/uploadstest"
	"github.com/sslens/sslens/shared"
)

// fitsCube encodes im as a FITS cube (NAXIS1 = W, NAXIS2 = H, NAXIS3 = 3).
func fitsCube(t testing.TB, im data.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	f, err := fitsio.Create(&buf)
	if err != nil {
		t.Fatal(err)
	}
	hdu, err := fitsio.NewPrimaryHDU(fitsio.NewHeader(nil, fitsio.IMAGE_HDU, -32, []int{im.W, im.H, im.C}))
	if err != nil {
		t.Fatal(err)
	}
	if err := hdu.Write(slices.Clone(im.Pix)); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(hdu); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func pngCutout(side int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for i := range side {
		img.Set(i, i, color.RGBA{R: 200, G: 100, B: 50, A: 255})
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

func TestUploadValidation(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	npy := npyOf(testCutout(40, 40, 1))
	fits := fitsCube(t, testCutout(36, 36, 2))
	bomb := make([]byte, 2<<20) // zeros: 2 MB that compress to a few KB
	chunk := func(b byte) []byte { return bytes.Repeat([]byte{b}, 400<<10) }
	type m = uploadstest.Member
	archive := uploadstest.Zip(t,
		m{Name: "sub/"},
		m{Name: "a/b/../../evil.npy", Body: npyOf(testCutout(40, 40, 3))},
		m{Name: "inner.zip", Body: uploadstest.Zip(t, m{Name: "x.npy", Body: npy})},
		m{Name: "bomb.npy", Body: bomb},
	)
	spread := uploadstest.Zip(t, m{Name: "1.npy", Body: chunk(1)}, m{Name: "2.npy", Body: chunk(2)}, m{Name: "3.npy", Body: chunk(3)})
	oneBand := data.NewImage(1, 40, 40)
	files := []part{
		{"good.npy", npy},
		{"cube.fits", fits},
		{"cube.fits.gz", gz(fits)},
		{"picture.png", pngCutout(40)},
		{"../../../etc/passwd.npy", npyOf(testCutout(40, 40, 4))},
		{`..\..\windows.npy`, npyOf(testCutout(40, 40, 5))},
		{"copy-of-good.npy", npy},
		{"broken.fits", []byte("SIMPLE  = garbage")},
		{"tiny.npy", npyOf(testCutout(16, 16, 6))},
		{"oneband.npy", npyOf(oneBand)},
		{"notes.txt", []byte("hello")},
		{"archive.zip", archive},
		{"spread.zip", spread},
		{"notazip.zip", []byte("PK nope")},
	}
	code, resp, e := c.upload(files)
	if code != 200 {
		t.Fatalf("upload: %d %+v", code, e)
	}
	want := []struct {
		name string
		ok   bool
		err  string
		dup  bool
	}{
		{"good.npy", true, "", false},
		{"cube.fits", true, "", false},
		{"cube.fits.gz", true, "", false},
		{"picture.png", true, "", false},
		{"passwd.npy", true, "", false},
		{"windows.npy", true, "", false},
		{"copy-of-good.npy", true, "", false},
		{"broken.fits", false, "corrupt", false},
		{"tiny.npy", false, "smaller than", false},
		{"oneband.npy", false, "channels", false},
		{"notes.txt", false, "unsupported file type", false},
		{"archive.zip/evil.npy", true, "", false},
		{"archive.zip/inner.zip", false, "nested zip", false},
		{"archive.zip/bomb.npy", false, "expands beyond 1 MB", false},
		{"spread.zip/1.npy", false, "", false},
		{"spread.zip/2.npy", false, "", false},
		{"spread.zip/3.npy", false, "expands beyond 1 MB", false},
		{"notazip.zip", false, "not a readable zip", false},
	}
	if len(resp.Files) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(resp.Files), len(want), resp.Files)
	}
	for i, w := range want {
		got := resp.Files[i]
		if got.Name != w.name || (got.Upload != nil) != w.ok || !strings.Contains(got.Error, w.err) || got.Duplicate != w.dup {
			t.Errorf("file %d: %+v, want %+v", i, got, w)
		}
	}
	if cp, orig := resp.Files[6].Upload, resp.Files[0].Upload; cp.ID == orig.ID || cp.SHA256 != orig.SHA256 || cp.Name != "copy-of-good.npy" {
		t.Errorf("the copy under its own name: %+v, the original %+v", cp, orig)
	}
	if resp.Accepted != 8 || resp.Rejected != 10 || len(resp.Uploads) != 8 {
		t.Errorf("accepted %d rejected %d uploads %d", resp.Accepted, resp.Rejected, len(resp.Uploads))
	}
	if resp.Scoring != shared.ScoringNoModel || !strings.Contains(resp.Message, "no model yet") {
		t.Errorf("scoring %q %q, want no_model", resp.Scoring, resp.Message)
	}
	var u shared.Upload
	c.json("GET", fmt.Sprintf("/api/uploads/%d", resp.Files[1].Upload.ID), nil, &u)
	if u.Format != "fits" || u.Width != 36 || u.Height != 36 || u.User != astroUser || u.Score != nil {
		t.Errorf("fits upload %+v", u)
	}
	if c.json("GET", fmt.Sprintf("/api/uploads/%d", resp.Files[2].Upload.ID), nil, &u); u.Format != "fits.gz" {
		t.Errorf("gzipped FITS stored as %q", u.Format)
	}

	// Whole requests refused change nothing.
	before := f.fingerprint(t)
	var many []part
	for i := range testLimits.Files + 1 {
		many = append(many, part{fmt.Sprintf("%d.npy", i), []byte{byte(i)}})
	}
	refused := []struct {
		name  string
		files []part
		field []string
		code  int
	}{
		{"too many files", many, nil, 413},
		{"too large", []part{{"big.npy", make([]byte, testLimits.RequestBytes+1)}}, nil, 413},
		{"no files", nil, nil, 400},
		{"unexpected field", []part{{"a.npy", npy}}, []string{"colour", "red"}, 400},
		{"bad checkpoint", []part{{"a.npy", npy}}, []string{"checkpoint", "x"}, 422},
		{"unknown checkpoint", []part{{"a2.npy", npyOf(testCutout(40, 40, 9))}}, []string{"checkpoint", "42"}, 0},
	}
	for _, r := range refused {
		code, _, e := c.upload(r.files, r.field...)
		if r.code != 0 && code != r.code {
			t.Errorf("%s: %d %+v, want %d", r.name, code, e, r.code)
		}
	}
	if code, e := c.apiErr("POST", "/api/uploads", "application/json", []byte(`{}`)); code != 415 {
		t.Errorf("JSON upload: %d %+v, want 415", code, e)
	}
	after := f.fingerprint(t)
	// The unknown checkpoint is found after the files are stored: the
	// file is kept (scored later) and the request says why it was not.
	if strings.Count(after, "uploads/") != strings.Count(before, "uploads/")+1 {
		t.Errorf("refused uploads changed the files:\n%s\n%s", before, after)
	}
}

// Uploads are judged by their own name and content, whoever uploaded the
// same bytes before: a FITS file named .npy is refused even after it was
// accepted as .fits, and bytes refused as .txt are accepted as .npy, by
// their uploader and by another user.
func TestUploadJudgedByOwnName(t *testing.T) {
	f := newFixture(t, HubOptions{})
	vera, ada := f.login(t, astroUser), f.login(t, adminUser)
	fits := fitsCube(t, testCutout(36, 36, 2))
	npy := npyOf(testCutout(40, 40, 7))
	for _, tt := range []struct {
		c    *browser
		p    part
		want string // "" when accepted
	}{
		{vera, part{"cube.fits", fits}, ""},
		{ada, part{"cube.npy", fits}, "the content is not a npy file"},
		{vera, part{"cube.npy", fits}, "the content is not a npy file"},
		{vera, part{"x.txt", npy}, "unsupported file type"},
		{vera, part{"x.npy", npy}, ""},
		{ada, part{"x.npy", npy}, ""},
	} {
		code, resp, e := tt.c.upload([]part{tt.p})
		if code != 200 {
			t.Fatalf("%s: %d %+v", tt.p.name, code, e)
		}
		got := resp.Files[0]
		if got.Error != "" && !strings.Contains(got.Error, tt.want) || (got.Upload == nil) != (tt.want != "") {
			t.Errorf("%s: %+v, want error %q", tt.p.name, got, tt.want)
		}
		if got.Upload != nil && got.Upload.Name != tt.p.name {
			t.Errorf("%s recorded as %q", tt.p.name, got.Upload.Name)
		}
	}
	var mine []shared.Upload
	if ada.json("GET", "/api/uploads?mine=1", nil, &mine); len(mine) != 1 || mine[0].Name != "x.npy" || mine[0].User != adminUser {
		t.Errorf("the admin's uploads: %+v", mine)
	}
}

func TestUploadScoringAndExport(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	adm := f.login(t, adminUser)
	models := func() (ms shared.ModelStatus) {
		c.json("GET", "/api/models", nil, &ms)
		return ms
	}
	if ms := models(); ms.Ready || !strings.Contains(ms.Message, "no model yet") {
		t.Errorf("models before training: %+v", ms)
	}
	var run shared.Run
	adm.json("POST", "/api/runs", shared.CreateRunRequest{Kind: shared.KindFinetune, Config: baseline(t, "# steps: 3")}, &run)
	if ms := models(); ms.Ready || !strings.Contains(ms.Message, fmt.Sprintf("run %d", run.ID)) {
		t.Errorf("models while training: %+v", ms)
	}
	f.waitRun(t, run.ID, shared.StateSucceeded)
	ms := models()
	if !ms.Ready || ms.Default == 0 || len(ms.Checkpoints) != 2 || ms.Checkpoints[0].Name != "best" || ms.Default != ms.Checkpoints[0].ID {
		t.Fatalf("models after training: %+v", ms)
	}
	// Upload a training image (its nearest neighbour is itself) and others.
	trainID := ""
	for _, im := range f.dsIx.images {
		if im.Split == "train" {
			trainID = im.ID
			break
		}
	}
	contents := [][]byte{f.imageBytes(t, trainID), npyOf(testCutout(40, 40, 1)), npyOf(testCutout(40, 40, 2)), fitsCube(t, testCutout(40, 40, 3))}
	names := []string{"train.npy", "a.npy", "b.npy", "c.fits"}
	var files []part
	for i := range names {
		files = append(files, part{names[i], contents[i]})
	}
	code, resp, _ := c.upload(files)
	if code != 200 || resp.Scoring != shared.ScoringDone || resp.Checkpoint != ms.Default || len(resp.Uploads) != 4 {
		t.Fatalf("upload: %d %+v", code, resp)
	}
	prob := map[string]float64{}
	for i, n := range names {
		prob[n] = jobstest.Prob(contents[i])
	}
	for i, u := range resp.Uploads {
		if u.Score == nil || u.Score.LensProb != prob[u.Name] {
			t.Errorf("%s: score %+v, want %v", u.Name, u.Score, prob[u.Name])
		}
		if i > 0 && u.Score.LensProb > resp.Uploads[i-1].Score.LensProb {
			t.Error("uploads not sorted by lens probability")
		}
	}
	var list []shared.Upload
	c.json("GET", "/api/uploads?mine=1", nil, &list)
	if len(list) != 4 || list[0].Score == nil || list[0].Score.LensProb != resp.Uploads[0].Score.LensProb {
		t.Errorf("list %+v", list)
	}
	if adm.json("GET", "/api/uploads?mine=1", nil, &list); len(list) != 0 {
		t.Errorf("the admin's own uploads: %d", len(list))
	}

	// CSV export.
	res := c.request("GET", "/api/uploads/export?format=csv&mine=1", nil, "")
	cr := csv.NewReader(res.Body)
	cr.Comment = '#' // the line naming the model
	rows, err := cr.ReadAll()
	res.Body.Close()
	if err != nil || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(res.Header.Get("Content-Disposition"), ".csv") {
		t.Fatalf("csv: %v %v", err, res.Header)
	}
	if len(rows) != 5 || rows[0][0] != "id" || rows[0][8] != "lens_prob" {
		t.Fatalf("csv rows %v", rows)
	}
	for _, r := range rows[1:] {
		p, _ := strconv.ParseFloat(r[8], 64)
		if p != prob[r[1]] || r[9] != strconv.FormatInt(ms.Default, 10) {
			t.Errorf("csv row %v: want P %v", r, prob[r[1]])
		}
	}
	// The export holds what the caller's table shows: the admin's own
	// uploads (none), not the astronomer's.
	res = adm.request("GET", "/api/uploads/export?format=csv&mine=1", nil, "")
	cr = csv.NewReader(res.Body)
	cr.Comment = '#'
	rows, err = cr.ReadAll()
	res.Body.Close()
	if err != nil || len(rows) != 1 {
		t.Errorf("the admin's own export: %d rows (want the header alone), %v", len(rows), err)
	}

	// VOTable export.
	res = c.request("GET", "/api/uploads/export?format=votable", nil, "")
	var vt struct {
		XMLName xml.Name
		Version string `xml:"version,attr"`
		Table   struct {
			Fields []struct {
				Datatype string `xml:"datatype,attr"`
			} `xml:"FIELD"`
			Rows []struct {
				TD []string `xml:"TD"`
			} `xml:"DATA>TABLEDATA>TR"`
		} `xml:"RESOURCE>TABLE"`
	}
	dec := xml.NewDecoder(res.Body)
	err = dec.Decode(&vt)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	tb := vt.Table
	if vt.Version != "1.4" || vt.XMLName.Space != "http://www.ivoa.net/xml/VOTable/v1.3" || len(tb.Fields) != len(rows[0]) || len(tb.Rows) != 4 || tb.Fields[8].Datatype != "double" {
		t.Errorf("votable: version %q ns %q, %d fields, %d rows", vt.Version, vt.XMLName.Space, len(tb.Fields), len(tb.Rows))
	}

	// FITS binary-table export: the table extension holds every upload.
	res = c.request("GET", "/api/uploads/export?format=fits", nil, "")
	fb, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.Header.Get("Content-Type") != "application/fits" || !strings.Contains(res.Header.Get("Content-Disposition"), ".fits") ||
		!bytes.HasPrefix(fb, []byte("SIMPLE  =                    T")) || len(fb)%2880 != 0 ||
		!bytes.Contains(fb, []byte("XTENSION= 'BINTABLE'")) || !bytes.Contains(fb, []byte("NAXIS2  =                    4")) {
		t.Errorf("fits: %v, %d bytes, %v", err, len(fb), res.Header)
	}
	for _, r := range tb.Rows {
		if len(r.TD) != len(tb.Fields) {
			t.Errorf("row with %d cells", len(r.TD))
		}
	}
	if code, _ := c.apiErr("GET", "/api/uploads/export?format=xlsx", "", nil); code != 400 {
		t.Errorf("bad format: %d", code)
	}

	// Similar images: the uploaded training image first, similarity 1,
	// then the rest of the train split by decreasing cosine similarity.
	var up shared.Upload
	for _, u := range resp.Uploads {
		if u.Name == "train.npy" {
			up = u
		}
	}
	var sim shared.Similar
	if code := c.json("GET", fmt.Sprintf("/api/uploads/%d/similar?k=3", up.ID), nil, &sim); code != 200 {
		t.Fatalf("similar: %d", code)
	}
	q := jobstest.Vector(contents[0])
	var train []shared.Neighbour // the train split by decreasing similarity to q
	for _, im := range f.dsIx.images {
		if im.Split == "train" {
			train = append(train, shared.Neighbour{Image: im.ID, Similarity: cosine(q, jobstest.Vector(f.imageBytes(t, im.ID)))})
		}
	}
	slices.SortStableFunc(train, func(a, b shared.Neighbour) int { return cmp.Compare(b.Similarity, a.Similarity) })
	if len(sim.Neighbours) != 3 || sim.Neighbours[0].Image != trainID || sim.Neighbours[0].Similarity < 0.9999 {
		t.Fatalf("neighbours %+v", sim.Neighbours)
	}
	for i, n := range sim.Neighbours {
		if n.Image != train[i].Image || math.Abs(n.Similarity-train[i].Similarity) > 1e-9 || n.Dataset != f.ds || n.Class != strings.Split(n.Image, "/")[0] {
			t.Errorf("neighbour %d: %+v, want %+v", i, n, train[i])
		}
	}
	for path, want := range map[string]int{
		fmt.Sprintf("/api/uploads/%d/similar?k=0", up.ID): 400, fmt.Sprintf("/api/uploads/%d/similar?k=51", up.ID): 400,
		"/api/uploads/99/similar": 404, "/api/uploads/99": 404, "/api/uploads/99/png": 404, "/api/uploads/x/detail": 400,
	} {
		if code, _ := c.apiErr("GET", path, "", nil); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	var det shared.ImageDetail
	if c.json("GET", fmt.Sprintf("/api/uploads/%d/detail", up.ID), nil, &det); det.Size != [3]int{3, 48, 48} || len(det.Bands) != 3 {
		t.Errorf("detail %+v", det)
	}
	res = c.request("GET", fmt.Sprintf("/api/uploads/%d/png?scale=2", up.ID), nil, "")
	img, err := png.Decode(res.Body)
	res.Body.Close()
	if err != nil || img.Bounds().Dx() != 96 {
		t.Errorf("upload png: %v", err)
	}

	// A score-batch run rescores everything with the last checkpoint.
	last := ms.Checkpoints[1].ID
	var batch shared.Run
	if code := c.json("POST", "/api/uploads/score", shared.ScoreRequest{Checkpoint: last}, &batch); code != http.StatusAccepted || batch.Kind != shared.KindScore {
		t.Fatalf("score-batch: %d %+v", code, batch)
	}
	f.waitRun(t, batch.ID, shared.StateSucceeded)
	if c.json("GET", fmt.Sprintf("/api/uploads?checkpoint=%d", last), nil, &list); len(list) != 4 || list[3].Score == nil || list[3].Score.Checkpoint != last {
		t.Errorf("scores by the last checkpoint: %+v", list)
	}
	for _, req := range []string{`{"checkpoint": 99}`, `{"uploads": [99]}`, `{"uploads": "all"}`} {
		if code, _ := c.apiErr("POST", "/api/uploads/score", "application/json", []byte(req)); code < 400 {
			t.Errorf("score-batch %s: %d", req, code)
		}
	}

	// The first classifier was promoted automatically; an admin promotes
	// another, which re-scores every upload as a visible run; astronomers
	// cannot, and a checkpoint that is no classifier is refused.
	if ms.PromotedBy == "" || ms.Promoted.IsZero() {
		t.Errorf("the default model's promotion is not shown: %+v", ms)
	}
	if code, _ := c.apiErr("POST", "/api/models/default", "application/json", []byte(fmt.Sprintf(`{"checkpoint": %d}`, last))); code != http.StatusForbidden {
		t.Errorf("an astronomer promoting: %d", code)
	}
	if code, _ := adm.apiErr("POST", "/api/models/default", "application/json", []byte(`{"checkpoint": 99}`)); code != http.StatusUnprocessableEntity {
		t.Errorf("promoting an unknown checkpoint: %d", code)
	}
	var promoted shared.PromoteResponse
	if code := adm.json("POST", "/api/models/default", shared.PromoteRequest{Checkpoint: last}, &promoted); code != http.StatusOK ||
		promoted.Default != last || promoted.Rescore == nil || promoted.Rescore.Kind != shared.KindScore {
		t.Fatalf("promotion: %d %+v", code, promoted)
	}
	f.waitRun(t, promoted.Rescore.ID, shared.StateSucceeded)
	if now := models(); now.Default != last || now.PromotedBy != adminUser {
		t.Errorf("after promotion: default %d by %q, want %d by %s", now.Default, now.PromotedBy, last, adminUser)
	}
	if c.json("GET", "/api/uploads?mine=1", nil, &list); len(list) != 4 || list[0].Score == nil || list[0].Score.Checkpoint != last {
		t.Errorf("the default list after promotion: %+v", list)
	}
}

// cosine is the cosine similarity of two vectors of the same length.
func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

// A promotion with nothing uploaded yet starts no re-score run (it would
// fail with nothing to score).
func TestPromoteWithoutUploads(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	f.trainedBaseline(t, adm, 3)
	var ms shared.ModelStatus
	adm.json("GET", "/api/models", nil, &ms)
	if len(ms.Checkpoints) != 2 {
		t.Fatalf("models %+v", ms)
	}
	last := ms.Checkpoints[1].ID
	var out shared.PromoteResponse
	if code := adm.json("POST", "/api/models/default", shared.PromoteRequest{Checkpoint: last}, &out); code != http.StatusOK || out.Default != last || out.Rescore != nil {
		t.Errorf("promotion without uploads: %d %+v", code, out)
	}
}

// Grading through the API: blind until graded, the queue moves on, the
// summary counts, bad grades are 422, a missing upload 404.
func TestGradingAPI(t *testing.T) {
	f := newFixture(t, HubOptions{})
	vera := f.login(t, astroUser)
	ada := f.login(t, adminUser)
	code, resp, _ := vera.upload([]part{{"a.npy", npyOf(testCutout(40, 40, 1))}, {"b.npy", npyOf(testCutout(40, 40, 2))}})
	if code != http.StatusOK || len(resp.Uploads) != 2 {
		t.Fatalf("upload: %d %+v", code, resp)
	}
	var next shared.Upload
	if code := ada.json("GET", "/api/grading/next", nil, &next); code != http.StatusOK || next.ID == 0 {
		t.Fatalf("next: %d %+v", code, next)
	}
	var g shared.Grade
	if code := vera.json("PUT", fmt.Sprintf("/api/uploads/%d/grade", next.ID), shared.GradeRequest{Grade: "B", Note: "arc?"}, &g); code != http.StatusOK || g.Grade != "B" || g.User != astroUser {
		t.Fatalf("grade: %d %+v", code, g)
	}
	var list []shared.Upload
	vera.json("GET", "/api/uploads?mine=1", nil, &list)
	for _, u := range list {
		if graded := u.ID == next.ID; graded != (u.MyGrade == "B") || graded != (u.Consensus != nil) {
			t.Errorf("vera's list: %+v", u)
		}
	}
	list = nil
	if ada.json("GET", "/api/uploads", nil, &list); len(list) != 2 || list[0].Consensus != nil || list[1].Consensus != nil {
		t.Errorf("ada sees a consensus before grading: %+v", list)
	}
	var v shared.GradesView
	if ada.json("GET", fmt.Sprintf("/api/uploads/%d/grades", next.ID), nil, &v); !v.Hidden || v.Others != nil {
		t.Errorf("ada sees vera's grade before grading: %+v", v)
	}
	ada.json("PUT", fmt.Sprintf("/api/uploads/%d/grade", next.ID), shared.GradeRequest{Grade: "A"}, &g)
	v = shared.GradesView{}
	if ada.json("GET", fmt.Sprintf("/api/uploads/%d/grades", next.ID), nil, &v); v.Hidden || len(v.Others) != 1 || v.Consensus == nil || v.Consensus.Graders != 2 {
		t.Errorf("ada's view after grading: %+v", v)
	}
	var again shared.Upload
	if code := ada.json("GET", "/api/grading/next", nil, &again); code != http.StatusOK || again.ID == next.ID {
		t.Errorf("next after grading: %d %+v", code, again)
	}
	ada.json("PUT", fmt.Sprintf("/api/uploads/%d/grade", again.ID), shared.GradeRequest{Grade: "0"}, &g)
	if code := ada.json("GET", "/api/grading/next", nil, nil); code != http.StatusNoContent {
		t.Errorf("next when all are graded: %d", code)
	}
	var sum shared.GradingSummary
	if ada.json("GET", "/api/grading", nil, &sum); sum.Candidates != 2 || sum.Graded != 2 {
		t.Errorf("summary %+v", sum)
	}
	if code, _ := ada.apiErr("PUT", fmt.Sprintf("/api/uploads/%d/grade", next.ID), "application/json", []byte(`{"grade": "E"}`)); code != http.StatusUnprocessableEntity {
		t.Errorf("grade E: %d", code)
	}
	if code, _ := ada.apiErr("PUT", "/api/uploads/999/grade", "application/json", []byte(`{"grade": "A"}`)); code != http.StatusNotFound {
		t.Errorf("grading a missing upload: %d", code)
	}
}

// An HSC object uploaded as three single-band files keeps its MASK and
// VARIANCE for display: the detail lists the layers, the mask layer paints
// the flagged pixels, the sigma layer renders the noise, and a cutout
// without them answers 404.
func TestUploadLayers(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	var files []part
	for _, b := range []string{"g", "r", "i"} {
		body, err := os.ReadFile("../data/testdata/surveys/hsc-" + b + ".fits")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, part{"hsc-" + b + ".fits", body})
	}
	files = append(files, part{"plain.npy", npyOf(testCutout(40, 40, 9))})
	code, resp, e := c.upload(files)
	if code != 200 || len(resp.Uploads) != 2 {
		t.Fatalf("upload: %d %+v %+v", code, resp, e)
	}
	var hsc, plain int64
	for _, u := range resp.Uploads {
		if u.Name == "plain.npy" {
			plain = u.ID
		} else {
			hsc = u.ID
		}
	}
	var det shared.ImageDetail
	if c.json("GET", fmt.Sprintf("/api/uploads/%d/detail", hsc), nil, &det); !slices.Equal(det.Layers, []string{"mask", "sigma"}) {
		t.Errorf("layers %v, want mask and sigma", det.Layers)
	}
	png := func(id int64, q string) (int, image.Image) {
		res := c.request("GET", fmt.Sprintf("/api/uploads/%d/png?%s", id, q), nil, "")
		defer res.Body.Close()
		if res.StatusCode != 200 {
			return res.StatusCode, nil
		}
		im, err := png.Decode(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, im
	}
	// make_surveys.py flags rows 3, 10, 30 (columns 4, 11, 31) in every
	// band; (20, 21) is flagged DETECTED only, which is kept.
	_, im := png(hsc, "layer=mask&band=i")
	magenta := func(x, y int) bool {
		r, g, b, _ := im.At(x, y).RGBA()
		return r == 0xffff && g == 0 && b == 0xffff
	}
	if im == nil || !magenta(4, 3) || !magenta(11, 10) || !magenta(31, 30) || magenta(21, 20) || magenta(0, 0) {
		t.Errorf("mask layer: magenta at (4, 3) %v, (21, 20) %v", im != nil && magenta(4, 3), im != nil && magenta(21, 20))
	}
	if code, im := png(hsc, "layer=sigma&band=r&stretch=linear"); code != 200 || im.Bounds().Dx() != 40 {
		t.Errorf("sigma layer: %d", code)
	}
	if code, _ := png(hsc, "layer=weights"); code != 400 {
		t.Errorf("layer=weights: %d, want 400", code)
	}
	if code, _ := png(plain, "layer=mask"); code != 404 {
		t.Errorf("a plain npy's mask: %d, want 404", code)
	}
	var plainDet shared.ImageDetail
	if c.json("GET", fmt.Sprintf("/api/uploads/%d/detail", plain), nil, &plainDet); plainDet.Layers != nil || plainDet.Size[0] != 3 {
		t.Errorf("a plain npy's detail: layers %v, size %v", plainDet.Layers, plainDet.Size)
	}
}
