package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// archivesDir is where uploaded archives of cutouts are kept, in the data
// folder, until an admin deletes them: the import reads them, and a failed
// import can be run again.
const archivesDir = "archives"

// createImportedDataset records a dataset under DATA/datasets/NAME and
// queues the import-data run that builds it from req.Import.
func (s *Server) createImportedDataset(w http.ResponseWriter, r *http.Request, c *Call, req shared.CreateDatasetRequest) error {
	im := *req.Import
	if req.Survey != "" || req.Counts != "" {
		return errInvalid("an import takes no simulator presets", shared.FieldError{Key: "survey/counts", Message: "leave survey and counts empty when importing"})
	}
	if err := jobs.CheckImportData(s.opt.DataDir, im); err != nil {
		return errInvalid("the cutouts cannot be imported", configFields(err)...)
	}
	rel := filepath.Join("datasets", req.Name)
	d, err := s.st.CreateDataset(r.Context(), store.Dataset{Name: req.Name, Dir: rel, Kind: "imported", Source: im.Source})
	if err != nil {
		return err
	}
	j, err := s.opt.Jobs.Submit(r.Context(), jobs.Submission{
		NewRun: store.NewRun{Kind: shared.KindImportData, Name: "import " + req.Name, Dataset: d.ID, CreatedBy: c.User()},
		Params: jobs.Params{Out: rel, DataImport: &im},
	})
	if err != nil {
		return err
	}
	if err := s.st.SetDatasetJob(r.Context(), d.ID, j.ID); err != nil {
		return err
	}
	if err := s.st.Audit(r.Context(), c.User(), "dataset.import", "dataset "+req.Name, fmt.Sprintf("run %d: %s", j.ID, im.Source)); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, j.Run)
	return nil
}

// uploadArchive stores the request body, an archive of cutouts called
// ?name= (.zip, .tar, .tar.gz or .tgz), under DATA/archives, streamed to
// disk, and answers with its path for an import.
func (s *Server) uploadArchive(w http.ResponseWriter, r *http.Request, c *Call) error {
	name := filepath.Base(filepath.Clean("/" + r.URL.Query().Get("name")))
	if !jobs.IsArchive(name) || strings.HasPrefix(name, ".") {
		return errInvalid("bad archive name", shared.FieldError{Key: "name", Message: fmt.Sprintf("%q: want a .zip, .tar, .tar.gz or .tgz file name", r.URL.Query().Get("name"))})
	}
	dir := filepath.Join(archivesDir, time.Now().UTC().Format("20060102-150405.000000000"))
	if err := os.MkdirAll(s.abs(dir), 0o755); err != nil {
		return err
	}
	rel := filepath.Join(dir, name)
	f, err := os.CreateTemp(s.abs(dir), ".upload-*")
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.abs(rel))
	}
	if err != nil {
		os.RemoveAll(s.abs(dir))
		return err
	}
	if err := s.st.Audit(r.Context(), c.User(), "archive.upload", rel, fmt.Sprintf("%d bytes", n)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, shared.ArchiveUpload{Path: filepath.ToSlash(rel), Bytes: n})
	return nil
}
