package server

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/backend/uploads"
	"github.com/sslens/sslens/shared"
)

// The upload routes decode a request, call the uploads service and encode
// its answer; the domain logic lives in package uploads.

func (s *Server) upload(w http.ResponseWriter, r *http.Request, c *Call) error {
	resp, err := s.up.Upload(r.Context(), c.User(), r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) models(w http.ResponseWriter, r *http.Request, c *Call) error {
	m, err := s.up.Models(r.Context())
	if err != nil {
		return err
	}
	out := shared.ModelStatus{Ready: m.Default != nil, Checkpoints: checkpointDTOs(m.Checkpoints), Message: m.Message}
	if m.Default != nil {
		out.Default, out.PromotedBy, out.Promoted = m.Default.ID, m.Promotion.User, m.Promotion.Time
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// promoteModel makes a checkpoint the default model and starts the
// score-batch run that re-scores every upload with it, so the table shows
// its scores.
func (s *Server) promoteModel(w http.ResponseWriter, r *http.Request, c *Call) error {
	var req shared.PromoteRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ck, err := s.up.Promote(r.Context(), req.Checkpoint, c.User())
	if err != nil {
		return err
	}
	out := shared.PromoteResponse{Default: ck.ID}
	ups, err := s.opt.Store.Uploads(r.Context(), store.UploadFilter{})
	if err != nil || len(ups) == 0 {
		writeJSON(w, http.StatusOK, out)
		return err
	}
	j, err := s.submitScore(r, c, ck, nil)
	if err != nil {
		return err
	}
	run := runDTO(j)
	out.Rescore = &run
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listed returns the uploads a listing asks for (?mine=1: the user's
// only) with their scores by ?checkpoint= (else the default), ranked,
// and that checkpoint.
func (s *Server) listed(r *http.Request, c *Call) ([]shared.Upload, *store.Checkpoint, error) {
	ck, err := queryInt(r, "checkpoint", 0, 0, math.MaxInt)
	if err != nil {
		return nil, nil, err
	}
	user := ""
	if r.URL.Query().Get("mine") == "1" {
		user = c.User()
	}
	return s.up.List(r.Context(), user, int64(ck))
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, c *Call) error {
	ups, _, err := s.listed(r, c)
	if err != nil {
		return err
	}
	if err := s.up.WithGrades(r.Context(), c.User(), ups); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ups)
	return nil
}

func (s *Server) getUpload(w http.ResponseWriter, r *http.Request, c *Call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ck, err := queryInt(r, "checkpoint", 0, 0, math.MaxInt)
	if err != nil {
		return err
	}
	u, err := s.up.Get(r.Context(), id, int64(ck))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// storedUpload is the upload the path names, its file's bytes, and the
// file's path.
func (s *Server) storedUpload(r *http.Request) (store.Upload, []byte, string, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Upload{}, nil, "", err
	}
	u, path, err := s.up.Stored(r.Context(), id)
	if err != nil {
		return store.Upload{}, nil, "", err
	}
	b, err := os.ReadFile(path)
	return u, b, path, err
}

func (s *Server) uploadDetail(w http.ResponseWriter, r *http.Request, c *Call) error {
	u, b, path, err := s.storedUpload(r)
	if err != nil {
		return err
	}
	det, err := s.detail(r, u.Name, b)
	if err != nil {
		return err
	}
	det.ID = strconv.FormatInt(u.ID, 10)
	det.Layers = uploads.LayersOf(path)
	writeJSON(w, http.StatusOK, det)
	return nil
}

func (s *Server) uploadPNG(w http.ResponseWriter, r *http.Request, c *Call) error {
	u, b, path, err := s.storedUpload(r)
	if err != nil {
		return err
	}
	layer := r.URL.Query().Get("layer")
	if layer == "" {
		return s.servePNG(w, r, u.Name, b)
	}
	if !slices.Contains(uploads.Layers, layer) {
		return errBadRequest("layer=%q: want %s", layer, strings.Join(uploads.Layers, " or "))
	}
	lb, err := os.ReadFile(uploads.LayerPath(path, layer))
	if errors.Is(err, fs.ErrNotExist) {
		return errNotFound("upload %d has no %s layer: only cutouts combined from survey files with MASK and VARIANCE do", u.ID, layer)
	}
	if err != nil {
		return err
	}
	if layer == uploads.LayerSigma {
		return s.servePNG(w, r, "sigma.npy", lb)
	}
	return s.servePNGOf(w, r, [][]byte{b, lb}, func(p pngParams) ([]byte, error) { return renderMaskedPNG(u.Name, b, lb, p) })
}

func (s *Server) scoreBatch(w http.ResponseWriter, r *http.Request, c *Call) error {
	var req shared.ScoreRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ck, err := s.up.BatchCheckpoint(r.Context(), req)
	if err != nil {
		return err
	}
	j, err := s.submitScore(r, c, ck, req.Uploads)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, runDTO(j))
	return nil
}

// submitScore starts a score-batch run of uploads (all when empty) with
// checkpoint ck.
func (s *Server) submitScore(r *http.Request, c *Call, ck store.Checkpoint, uploads []int64) (store.Run, error) {
	return s.opt.Jobs.Submit(r.Context(), jobs.Submission{
		NewRun: store.NewRun{Kind: shared.KindScore, Name: fmt.Sprintf("score with %s/%s", ck.RunName, ck.Name), CreatedBy: c.User()},
		Params: jobs.Params{Checkpoint: ck.ID, Uploads: uploads},
	})
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, c *Call) error {
	ex, err := uploads.ExportFormat(cmp.Or(r.URL.Query().Get("format"), "csv"))
	if err != nil {
		return err
	}
	ups, ck, err := s.listed(r, c)
	if err != nil {
		return err
	}
	if err := s.up.WithGrades(r.Context(), c.User(), ups); err != nil {
		return err
	}
	grading, err := s.up.GradingSummary(r.Context())
	if err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	w.Header().Set("Content-Type", ex.ContentType)
	w.Header().Set("Content-Disposition", `attachment; filename="sslens-scores-`+stamp+ex.Ext+`"`)
	return ex.Write(w, ups, uploads.ExportMeta{Checkpoint: ck, Grading: &grading})
}

func (s *Server) similar(w http.ResponseWriter, r *http.Request, c *Call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	k, err := queryInt(r, "k", 8, 1, 50)
	if err != nil {
		return err
	}
	ck, err := queryInt(r, "checkpoint", 0, 0, math.MaxInt)
	if err != nil {
		return err
	}
	ds, err := queryInt(r, "dataset", 0, 0, math.MaxInt)
	if err != nil {
		return err
	}
	out, err := s.up.Similar(r.Context(), id, int64(ck), int64(ds), k)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// uploadStatus is the status and code an uploads refusal is answered with.
var uploadStatus = map[uploads.Kind]struct {
	status int
	code   shared.ErrorCode
}{
	uploads.BadRequest:  {http.StatusBadRequest, shared.CodeBadRequest},
	uploads.Unsupported: {http.StatusUnsupportedMediaType, shared.CodeBadRequest},
	uploads.TooLarge:    {http.StatusRequestEntityTooLarge, shared.CodeTooLarge},
	uploads.NoModel:     {http.StatusConflict, shared.CodeNoModel},
	uploads.Rejected:    {http.StatusNotFound, shared.CodeNotFound},
}

// asUploadError sets *ae to the answer to an uploads refusal and reports
// whether err is one.
func asUploadError(err error, ae **apiError) bool {
	var ue *uploads.Error
	if !errors.As(err, &ue) {
		return false
	}
	st := uploadStatus[ue.Kind]
	*ae = &apiError{status: st.status, code: st.code, msg: ue.Msg}
	return true
}
