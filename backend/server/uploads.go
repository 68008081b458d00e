package server

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// uploadCrop is the centre crop an upload must hold: the models' input.
const uploadCrop = 32

// sanitizeName reduces an uploaded file name to a safe base name: the last
// element of any path (either slash), without control characters or a
// leading dot, at most 200 bytes.
func sanitizeName(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		return "unnamed"
	}
	return name
}

// formatOf names an image file's format by its extension, "" if unknown.
func formatOf(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".fits.gz"), strings.HasSuffix(n, ".fit.gz"), strings.HasSuffix(n, ".fts.gz"):
		return "fits.gz"
	case strings.HasSuffix(n, ".npy.gz"):
		return "npy.gz"
	}
	switch filepath.Ext(n) {
	case ".npy":
		return "npy"
	case ".fits", ".fit", ".fts":
		return "fits"
	case ".png":
		return "png"
	case ".jpg", ".jpeg":
		return "jpeg"
	case ".zip":
		return "zip"
	}
	return ""
}

// uploadFile is one file of a request on its way to the store.
type uploadFile struct {
	name string // sanitised; zip members as archive/member
	body []byte
	err  error // already rejected (limits, nesting)
}

// readUploads reads the multipart request's "file" parts and its
// "checkpoint" field, expanding zip archives, within the limits.
func (s *Server) readUploads(r *http.Request) ([]uploadFile, int64, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, 0, &apiError{status: http.StatusUnsupportedMediaType, code: shared.CodeBadRequest, msg: "send the files as multipart/form-data"}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, 0, errBadRequest("multipart: %v", err)
	}
	var files []uploadFile
	var ckpt int64
	lim := s.opt.Uploads
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, uploadReadErr(err)
		}
		switch part.FormName() {
		case "checkpoint":
			b, err := io.ReadAll(io.LimitReader(part, 32))
			if err != nil {
				return nil, 0, uploadReadErr(err)
			}
			if ckpt, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || ckpt <= 0 {
				return nil, 0, errInvalid("bad checkpoint", shared.FieldError{Key: "checkpoint", Message: fmt.Sprintf("%q: want a checkpoint id", b)})
			}
		case "file":
			b, err := io.ReadAll(part)
			if err != nil {
				return nil, 0, uploadReadErr(err)
			}
			name := sanitizeName(part.FileName())
			if formatOf(name) == "zip" {
				files = append(files, unzip(name, b, lim.ZipBytes)...)
			} else {
				files = append(files, uploadFile{name: name, body: b})
			}
			if len(files) > lim.Files {
				return nil, 0, &apiError{status: http.StatusRequestEntityTooLarge, code: shared.CodeTooLarge,
					msg: fmt.Sprintf("more than %d files in one request", lim.Files)}
			}
		default:
			return nil, 0, errBadRequest("unexpected form field %q: want file parts and an optional checkpoint", part.FormName())
		}
	}
	if len(files) == 0 {
		return nil, 0, errBadRequest("no files: send one or more parts named \"file\"")
	}
	return files, ckpt, nil
}

func uploadReadErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: shared.CodeTooLarge, msg: fmt.Sprintf("upload over the %d MB request limit", mbe.Limit>>20)}
	}
	return errBadRequest("reading the upload: %v", err)
}

// unzip expands an archive into its members, each rejected on its own
// when it breaks a rule; a broken archive is one rejected file. The
// uncompressed total is counted as it is read, not trusted from the
// headers, so a zip bomb stops at the limit.
func unzip(name string, b []byte, limit int64) []uploadFile {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return []uploadFile{{name: name, err: fmt.Errorf("not a readable zip archive: %v", err)}}
	}
	var out []uploadFile
	left := limit
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		member := name + "/" + sanitizeName(f.Name)
		switch {
		case formatOf(f.Name) == "zip":
			out = append(out, uploadFile{name: member, err: errors.New("nested zip archives are not accepted")})
			continue
		case left <= 0 || f.UncompressedSize64 > uint64(left):
			out = append(out, uploadFile{name: member, err: fmt.Errorf("the archive expands beyond %d MB", limit>>20)})
			continue
		}
		rc, err := f.Open()
		if err != nil {
			out = append(out, uploadFile{name: member, err: fmt.Errorf("zip member: %v", err)})
			continue
		}
		body, err := io.ReadAll(io.LimitReader(rc, left+1))
		rc.Close()
		left -= int64(len(body))
		switch {
		case left < 0:
			out = append(out, uploadFile{name: member, err: fmt.Errorf("the archive expands beyond %d MB", limit>>20)})
		case err != nil:
			out = append(out, uploadFile{name: member, err: fmt.Errorf("zip member: %v", err)})
		default:
			out = append(out, uploadFile{name: member, body: body})
		}
	}
	if len(out) == 0 {
		return []uploadFile{{name: name, err: errors.New("the archive holds no files")}}
	}
	return out
}

// storeUpload validates one file and records it (deduplicated by
// SHA-256); a valid file is kept under DATA/uploads.
func (s *Server) storeUpload(ctx context.Context, user string, f uploadFile) shared.UploadFile {
	res := shared.UploadFile{Name: f.name}
	if f.err != nil {
		res.Error = f.err.Error()
		return res
	}
	sum := sha256.Sum256(f.body)
	u := store.Upload{Upload: shared.Upload{Name: f.name[strings.LastIndexByte(f.name, '/')+1:], SHA256: hex.EncodeToString(sum[:]),
		Format: formatOf(f.name), Size: int64(len(f.body)), User: user}}
	switch u.Format {
	case "", "zip":
		u.Error = "unsupported file type: want .npy, .fits, .fits.gz, .png or .jpg"
	default:
		im, err := data.DecodeImage(u.Name, f.body, data.ReadOptions{})
		if err == nil {
			u.Width, u.Height = im.W, im.H
			_, err = data.CenterCrop(im, uploadCrop, uploadCrop)
		}
		if err != nil {
			var fe *data.FileError
			if errors.As(err, &fe) {
				err = fe.Err // the name is already in the result
			}
			u.Error = err.Error()
		} else {
			u.Valid = true
			u.Path = filepath.Join("uploads", u.SHA256[:2], u.SHA256+"."+u.Format)
			if err := writeOnce(s.abs(u.Path), f.body); err != nil {
				s.log.Error("server: storing an upload", "err", err)
				res.Error = "the server could not store the file"
				return res
			}
		}
	}
	stored, dup, err := s.st.AddUpload(ctx, u)
	if err != nil {
		s.log.Error("server: recording an upload", "err", err)
		res.Error = "the server could not record the file"
		return res
	}
	res.Duplicate = dup
	if !stored.Valid {
		res.Error = stored.Error
		return res
	}
	res.Upload = &stored.Upload
	return res
}

// writeOnce writes a content-addressed file unless it exists.
func writeOnce(path string, b []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, b)
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request, c *Call) error {
	files, ckptID, err := s.readUploads(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	resp := shared.UploadResponse{Files: make([]shared.UploadFile, len(files)), Uploads: []shared.Upload{}}
	seen := map[int64]bool{}
	var good []shared.Upload
	for i, f := range files {
		resp.Files[i] = s.storeUpload(ctx, c.User(), f)
		if u := resp.Files[i].Upload; u != nil {
			resp.Accepted++
			if !seen[u.ID] {
				seen[u.ID] = true
				good = append(good, *u)
			}
		} else {
			resp.Rejected++
		}
	}
	resp.Scoring, resp.Message = shared.ScoringNone, "no valid file to score"
	if len(good) > 0 {
		ck, msg, err := s.scoringCheckpoint(ctx, ckptID)
		switch {
		case err != nil:
			return err
		case ck == nil:
			resp.Scoring, resp.Message = shared.ScoringNoModel, msg
		default:
			resp.Checkpoint = ck.ID
			if err := s.scoreUploads(ctx, *ck, good); err != nil {
				resp.Scoring, resp.Message = shared.ScoringFailed, err.Error()
			} else {
				resp.Scoring, resp.Message = shared.ScoringDone, ""
			}
			if good, err = s.withScores(ctx, ck.ID, good); err != nil {
				return err
			}
		}
	}
	resp.Uploads = append(resp.Uploads, good...)
	sortUploads(resp.Uploads)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// scoreUploads scores the uploads the checkpoint has not scored yet.
func (s *Server) scoreUploads(ctx context.Context, ck store.Checkpoint, ups []shared.Upload) error {
	if s.opt.Model == nil {
		return errors.New("scoring is not available in this server")
	}
	ids := make([]int64, len(ups))
	for i, u := range ups {
		ids[i] = u.ID
	}
	have, err := s.st.Scores(ctx, ck.ID, ids...)
	if err != nil {
		return err
	}
	var files []string
	byPath := map[string]int64{}
	for _, u := range ups {
		if _, ok := have[u.ID]; ok {
			continue
		}
		su, err := s.st.Upload(ctx, u.ID)
		if err != nil {
			return err
		}
		p := s.abs(su.Path)
		files, byPath[p] = append(files, p), u.ID
	}
	if len(files) == 0 {
		return nil
	}
	select { // a scoring process per worker slot; the rest wait
	case s.scoreQ <- struct{}{}:
		defer func() { <-s.scoreQ }()
	case <-ctx.Done():
		return ctx.Err()
	}
	scores, failed, err := s.opt.Model.Score(ctx, s.abs(ck.Path), files)
	if err != nil {
		return err
	}
	rows := make([]store.ScoreRow, 0, len(scores))
	for _, sc := range scores {
		if id, ok := byPath[sc.File]; ok {
			rows = append(rows, store.ScoreRow{Upload: id, LensProb: sc.LensProb})
		}
	}
	if err := s.st.PutScores(ctx, ck.ID, rows); err != nil {
		return err
	}
	if len(failed) > 0 {
		var msgs []string
		for f, e := range failed {
			msgs = append(msgs, filepath.Base(f)+": "+e)
		}
		slices.Sort(msgs)
		return fmt.Errorf("%d files could not be scored: %s", len(failed), strings.Join(msgs, "; "))
	}
	return nil
}

// withScores attaches the checkpoint's scores to uploads.
func (s *Server) withScores(ctx context.Context, ckpt int64, ups []shared.Upload) ([]shared.Upload, error) {
	ids := make([]int64, len(ups))
	for i, u := range ups {
		ids[i] = u.ID
	}
	sc, err := s.st.Scores(ctx, ckpt, ids...)
	if err != nil {
		return nil, err
	}
	for i := range ups {
		ups[i].Score = nil
		if v, ok := sc[ups[i].ID]; ok {
			ups[i].Score = &v
		}
	}
	return ups, nil
}

// sortUploads orders by lens probability (unscored last), then newest.
func sortUploads(ups []shared.Upload) {
	slices.SortStableFunc(ups, func(a, b shared.Upload) int {
		switch {
		case a.Score != nil && b.Score != nil:
			return cmp.Or(cmp.Compare(b.Score.LensProb, a.Score.LensProb), cmp.Compare(b.ID, a.ID))
		case a.Score != nil:
			return -1
		case b.Score != nil:
			return 1
		}
		return cmp.Compare(b.ID, a.ID)
	})
}

// classifiers returns the checkpoints that can score and the default
// one: the best checkpoint of the newest fine-tuned run, else of the
// newest supervised run (nil when none exists).
func (s *Server) classifiers(ctx context.Context) ([]store.Checkpoint, *store.Checkpoint, error) {
	cs, err := s.st.Checkpoints(ctx, store.CheckpointFilter{Classifier: true, Succeeded: true})
	if err != nil {
		return nil, nil, err
	}
	var def *store.Checkpoint
	defFinetuned := false
	for i, c := range cs { // newest run first, best before last
		if c.Name != "best" {
			continue
		}
		j, err := s.st.Job(ctx, c.Run)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := config.Parse([]byte(j.Config))
		finetuned := err == nil && cfg.Experiment.Method == config.Finetune
		if def == nil || (finetuned && !defFinetuned) {
			def, defFinetuned = &cs[i], finetuned
		}
	}
	if def == nil && len(cs) > 0 {
		def = &cs[0]
	}
	return cs, def, nil
}

// scoringCheckpoint returns the checkpoint a request asks for, or the
// default one; without any, nil and a message saying what is under way.
func (s *Server) scoringCheckpoint(ctx context.Context, id int64) (*store.Checkpoint, string, error) {
	if id != 0 {
		c, err := s.st.Checkpoint(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", errInvalid("unknown checkpoint", shared.FieldError{Key: "checkpoint", Message: fmt.Sprintf("no checkpoint %d", id)})
		}
		if err != nil {
			return nil, "", err
		}
		if !c.Classifier {
			return nil, "", errInvalid("not a classifier", shared.FieldError{Key: "checkpoint", Message: fmt.Sprintf("checkpoint %d has no classifier head", id)})
		}
		return &c, "", nil
	}
	_, def, err := s.classifiers(ctx)
	if err != nil || def != nil {
		return def, "", err
	}
	msg, err := s.noModelMessage(ctx)
	return nil, msg, err
}

// noModelMessage says why nothing can score yet and what will change it.
func (s *Server) noModelMessage(ctx context.Context) (string, error) {
	js, err := s.st.Jobs(ctx, store.RunFilter{Kind: shared.KindFinetune, States: []shared.JobState{shared.StateQueued, shared.StateRunning}, Oldest: true})
	if err != nil {
		return "", err
	}
	if len(js) == 0 {
		return "no model yet: no classifier has been trained; an admin can launch a finetune run", nil
	}
	j := js[0]
	msg := fmt.Sprintf("no model yet: run %d (%s) is %s", j.ID, j.Name, j.State)
	if j.Progress != nil && j.Progress.Total > 0 {
		msg += fmt.Sprintf(", %.0f%% done", 100*j.Progress.Fraction)
	}
	return msg + "; uploaded files are kept: score them once it has finished (a score-batch run)", nil
}

func (s *Server) models(w http.ResponseWriter, r *http.Request, c *Call) error {
	cs, def, err := s.classifiers(r.Context())
	if err != nil {
		return err
	}
	out := shared.ModelStatus{Ready: def != nil, Checkpoints: checkpointDTOs(cs)}
	if def != nil {
		out.Default = def.ID
	} else if out.Message, err = s.noModelMessage(r.Context()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// queryCheckpoint is the checkpoint ?checkpoint= names, or the default;
// nil when there is none.
func (s *Server) queryCheckpoint(r *http.Request) (*store.Checkpoint, string, error) {
	id, err := queryInt(r, "checkpoint", 0, 0, math.MaxInt)
	if err != nil {
		return nil, "", err
	}
	return s.scoringCheckpoint(r.Context(), int64(id))
}

// listedUploads returns the valid uploads with scores by the checkpoint
// the request names (or the default one).
func (s *Server) listedUploads(r *http.Request, c *Call) ([]shared.Upload, *store.Checkpoint, error) {
	f := store.UploadFilter{}
	if r.URL.Query().Get("mine") == "1" {
		f.User = c.User()
	}
	sus, err := s.st.Uploads(r.Context(), f)
	if err != nil {
		return nil, nil, err
	}
	ups := make([]shared.Upload, len(sus))
	for i, u := range sus {
		ups[i] = u.Upload
	}
	ck, _, err := s.queryCheckpoint(r)
	if err != nil || ck == nil {
		return ups, nil, err
	}
	ups, err = s.withScores(r.Context(), ck.ID, ups)
	sortUploads(ups)
	return ups, ck, err
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, c *Call) error {
	ups, _, err := s.listedUploads(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ups)
	return nil
}

func (s *Server) uploadByID(r *http.Request) (store.Upload, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Upload{}, err
	}
	u, err := s.st.Upload(r.Context(), id)
	if err == nil && !u.Valid {
		return u, errNotFound("upload %d was rejected: %s", id, u.Error)
	}
	return u, err
}

func (s *Server) getUpload(w http.ResponseWriter, r *http.Request, c *Call) error {
	u, err := s.uploadByID(r)
	if err != nil {
		return err
	}
	ck, _, err := s.queryCheckpoint(r)
	if err != nil {
		return err
	}
	out := []shared.Upload{u.Upload}
	if ck != nil {
		if out, err = s.withScores(r.Context(), ck.ID, out); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

func (s *Server) uploadDetail(w http.ResponseWriter, r *http.Request, c *Call) error {
	u, err := s.uploadByID(r)
	if err != nil {
		return err
	}
	im, err := data.ReadImage(s.abs(u.Path), data.ReadOptions{})
	if err != nil {
		return err
	}
	det := detailOf(im, r.URL.Query().Get("pixels") == "1")
	det.ID = strconv.FormatInt(u.ID, 10)
	writeJSON(w, http.StatusOK, det)
	return nil
}

func (s *Server) uploadPNG(w http.ResponseWriter, r *http.Request, c *Call) error {
	u, err := s.uploadByID(r)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(s.abs(u.Path))
	if err != nil {
		return err
	}
	return s.servePNG(w, r, u.Name, b)
}

func (s *Server) scoreBatch(w http.ResponseWriter, r *http.Request, c *Call) error {
	var req shared.ScoreRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ck, msg, err := s.scoringCheckpoint(r.Context(), req.Checkpoint)
	if err != nil {
		return err
	}
	if ck == nil {
		return &apiError{status: http.StatusConflict, code: shared.CodeNoModel, msg: msg}
	}
	if len(req.Uploads) > 0 {
		found, err := s.st.Uploads(r.Context(), store.UploadFilter{IDs: req.Uploads})
		if err != nil {
			return err
		}
		if len(found) != len(slices.Compact(slices.Sorted(slices.Values(req.Uploads)))) {
			return errInvalid("unknown uploads", shared.FieldError{Key: "uploads", Message: "some ids are not valid uploads"})
		}
	}
	j, err := s.opt.Jobs.Submit(r.Context(), jobs.Submission{
		NewRun: store.NewRun{Kind: shared.KindScore, Name: fmt.Sprintf("score with %s/%s", ck.RunName, ck.Name), CreatedBy: c.User()},
		Params: jobs.Params{Checkpoint: ck.ID, Uploads: req.Uploads},
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, runDTO(j))
	return nil
}

// exportColumns are the columns of both export formats.
var exportColumns = []struct {
	name, datatype, ucd, unit, desc string
}{
	{"id", "long", "meta.id", "", "upload id"},
	{"name", "char", "meta.id;meta.file", "", "file name as uploaded"},
	{"sha256", "char", "meta.checksum", "", "SHA-256 of the file"},
	{"format", "char", "meta.code.mime", "", "file format"},
	{"width", "int", "", "pix", "image width"},
	{"height", "int", "", "pix", "image height"},
	{"uploaded", "char", "time.creation", "", "upload time, ISO 8601 UTC"},
	{"user", "char", "meta.id", "", "who uploaded it"},
	{"lens_prob", "double", "stat.probability", "", "P(lens) by the checkpoint; empty when not scored"},
	{"checkpoint", "long", "meta.id", "", "checkpoint id that scored it"},
}

func exportRow(u shared.Upload) []string {
	prob, ck := "", ""
	if u.Score != nil {
		prob, ck = strconv.FormatFloat(u.Score.LensProb, 'g', -1, 64), strconv.FormatInt(u.Score.Checkpoint, 10)
	}
	return []string{strconv.FormatInt(u.ID, 10), u.Name, u.SHA256, u.Format, strconv.Itoa(u.Width), strconv.Itoa(u.Height),
		u.Created.Format(time.RFC3339), u.User, prob, ck}
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, c *Call) error {
	format := cmp.Or(r.URL.Query().Get("format"), "csv")
	if format != "csv" && format != "votable" {
		return errBadRequest("format=%q: want csv or votable", format)
	}
	ups, ck, err := s.listedUploads(r, c)
	if err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="sslens-scores-`+stamp+`.csv"`)
		cw := csv.NewWriter(w)
		var header []string
		for _, col := range exportColumns {
			header = append(header, col.name)
		}
		cw.Write(header)
		for _, u := range ups {
			cw.Write(exportRow(u))
		}
		cw.Flush()
		return nil
	}
	w.Header().Set("Content-Type", "application/x-votable+xml")
	w.Header().Set("Content-Disposition", `attachment; filename="sslens-scores-`+stamp+`.vot"`)
	return writeVOTable(w, ups, ck)
}

// VOTable 1.4 (IVOA Recommendation 2019-10-21) keeps the v1.3 namespace.
const votableNS = "http://www.ivoa.net/xml/VOTable/v1.3"

type votable struct {
	XMLName  xml.Name `xml:"VOTABLE"`
	Version  string   `xml:"version,attr"`
	NS       string   `xml:"xmlns,attr"`
	Resource struct {
		Name        string    `xml:"name,attr"`
		Description string    `xml:"DESCRIPTION"`
		Info        []votInfo `xml:"INFO"`
		Table       votTable  `xml:"TABLE"`
	} `xml:"RESOURCE"`
}

type votInfo struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type votTable struct {
	Name   string     `xml:"name,attr"`
	Fields []votField `xml:"FIELD"`
	Rows   []votRow   `xml:"DATA>TABLEDATA>TR"`
}

type votField struct {
	Name        string `xml:"name,attr"`
	Datatype    string `xml:"datatype,attr"`
	Arraysize   string `xml:"arraysize,attr,omitempty"`
	UCD         string `xml:"ucd,attr,omitempty"`
	Unit        string `xml:"unit,attr,omitempty"`
	Description string `xml:"DESCRIPTION,omitempty"`
}

type votRow struct {
	TD []string `xml:"TD"`
}

func writeVOTable(w io.Writer, ups []shared.Upload, ck *store.Checkpoint) error {
	var v votable
	v.Version, v.NS = "1.4", votableNS
	v.Resource.Name = "sslens"
	v.Resource.Description = "Lens probabilities of uploaded cutouts, scored by an sslens classifier."
	if ck != nil {
		v.Resource.Info = []votInfo{{"checkpoint", fmt.Sprintf("%d (run %d %s, %s, epoch %d)", ck.ID, ck.Run, ck.RunName, ck.Name, ck.Epoch)}}
	}
	v.Resource.Table.Name = "scores"
	for _, col := range exportColumns {
		f := votField{Name: col.name, Datatype: col.datatype, UCD: col.ucd, Unit: col.unit, Description: col.desc}
		if col.datatype == "char" {
			f.Arraysize = "*"
		}
		v.Resource.Table.Fields = append(v.Resource.Table.Fields, f)
	}
	v.Resource.Table.Rows = []votRow{}
	for _, u := range ups {
		v.Resource.Table.Rows = append(v.Resource.Table.Rows, votRow{TD: exportRow(u)})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// embedCache keeps the training-set embeddings of a few checkpoints.
type embedCache struct {
	max   int
	mu    sync.Mutex
	order []string
	sets  map[string][]jobs.Embedding
}

func newEmbedCache(max int) *embedCache {
	return &embedCache{max: max, sets: map[string][]jobs.Embedding{}}
}

func (e *embedCache) get(key string) ([]jobs.Embedding, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.sets[key]
	return v, ok
}

func (e *embedCache) put(key string, v []jobs.Embedding) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sets[key]; !ok {
		e.order = append(e.order, key)
	}
	e.sets[key] = v
	for len(e.order) > e.max {
		delete(e.sets, e.order[0])
		e.order = e.order[1:]
	}
}

func (s *Server) similar(w http.ResponseWriter, r *http.Request, c *Call) error {
	u, err := s.uploadByID(r)
	if err != nil {
		return err
	}
	k, err := queryInt(r, "k", 8, 1, 50)
	if err != nil {
		return err
	}
	ck, msg, err := s.queryCheckpoint(r)
	if err != nil {
		return err
	}
	if ck == nil {
		return &apiError{status: http.StatusConflict, code: shared.CodeNoModel, msg: msg}
	}
	if s.opt.Model == nil {
		return errConflict("embeddings are not available in this server")
	}
	ctx := r.Context()
	run, err := s.st.Job(ctx, ck.Run)
	if err != nil {
		return err
	}
	if run.Dataset == 0 {
		return errConflict("checkpoint %d does not record its training data", ck.ID)
	}
	ds, err := s.st.Dataset(ctx, run.Dataset)
	if err != nil {
		return err
	}
	key := ck.SHA256 + "|" + ds.Dir
	train, ok := s.embeds.get(key)
	if !ok {
		if train, err = s.opt.Model.Embed(ctx, s.abs(ck.Path), s.abs(ds.Dir), "train"); err != nil {
			return err
		}
		s.embeds.put(key, train)
	}
	q, err := s.uploadEmbedding(ctx, u, *ck)
	if err != nil {
		return err
	}
	out := shared.Similar{Upload: u.ID, Checkpoint: ck.ID, Neighbours: []shared.Neighbour{}}
	for _, n := range nearest(q, train, k) {
		e := train[n.index]
		class, _, _ := strings.Cut(e.Name, "/")
		out.Neighbours = append(out.Neighbours, shared.Neighbour{Dataset: ds.ID, Image: e.Name, Class: class, Similarity: n.sim})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// uploadEmbedding returns an upload's embedding by a checkpoint, computing
// and storing it on first use (the upload must have a score by it).
func (s *Server) uploadEmbedding(ctx context.Context, u store.Upload, ck store.Checkpoint) ([]float32, error) {
	v, err := s.st.Embedding(ctx, u.ID, ck.ID)
	if err != nil || v != nil {
		return v, err
	}
	sc, err := s.st.Scores(ctx, ck.ID, u.ID)
	if err != nil {
		return nil, err
	}
	if _, ok := sc[u.ID]; !ok {
		if err := s.scoreUploads(ctx, ck, []shared.Upload{u.Upload}); err != nil {
			return nil, err
		}
		if sc, err = s.st.Scores(ctx, ck.ID, u.ID); err != nil {
			return nil, err
		}
	}
	// sslens embed reads dataset folders: make a one-image one.
	tmp, err := os.MkdirTemp("", "sslens-query-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	name := "query." + u.Format
	if err := os.Mkdir(filepath.Join(tmp, data.ClassDirs[data.Lens]), 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink(s.abs(u.Path), filepath.Join(tmp, data.ClassDirs[data.Lens], name)); err != nil {
		return nil, err
	}
	embs, err := s.opt.Model.Embed(ctx, s.abs(ck.Path), tmp, "all")
	if err != nil {
		return nil, err
	}
	if len(embs) != 1 {
		return nil, fmt.Errorf("embedding upload %d: got %d vectors, want 1", u.ID, len(embs))
	}
	v = embs[0].Vector
	err = s.st.PutScores(ctx, ck.ID, []store.ScoreRow{{Upload: u.ID, LensProb: sc[u.ID].LensProb, Embedding: v}})
	return v, err
}

type neighbour struct {
	index int
	sim   float64
}

// nearest returns the k rows of set most similar to q by cosine
// similarity, most similar first (ties by index).
func nearest(q []float32, set []jobs.Embedding, k int) []neighbour {
	qn := norm(q)
	var out []neighbour
	for i, e := range set {
		if len(e.Vector) != len(q) {
			continue
		}
		var dot float64
		for j, x := range e.Vector {
			dot += float64(x) * float64(q[j])
		}
		den := qn * norm(e.Vector)
		if den == 0 {
			continue
		}
		out = append(out, neighbour{i, dot / den})
	}
	slices.SortStableFunc(out, func(a, b neighbour) int { return cmp.Compare(b.sim, a.sim) })
	return out[:min(k, len(out))]
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
