package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/backend/uploads"
	"github.com/sslens/sslens/shared"
)

// archivesDir is where uploaded archives of cutouts are kept, in the data
// folder, until an admin deletes them: the import reads them, and a failed
// import can be run again.
const archivesDir = "archives"

// stagingDir holds, per graded dataset, the links to its candidates'
// files and its provenance.json that its import reads.
const stagingDir = "staging"

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
	return s.queueImport(w, r, c, req.Name, "imported", im)
}

// createGradedDataset makes a labelled dataset of the graded candidates
// the rule selects: their files linked under DATA/staging/NAME/lenses and
// nonlenses with provenance.json (the rule and every grade behind each
// label), imported as any labelled folder is.
func (s *Server) createGradedDataset(w http.ResponseWriter, r *http.Request, c *Call, req shared.CreateDatasetRequest) error {
	if req.Survey != "" || req.Counts != "" {
		return errInvalid("a graded set takes no simulator presets", shared.FieldError{Key: "survey/counts", Message: "leave survey and counts empty"})
	}
	set, err := s.up.GradedSet(r.Context(), c.User(), *req.FromGrades)
	var fe shared.FieldError
	if errors.As(err, &fe) {
		return errInvalid("bad rule", fe)
	}
	if err != nil {
		return err
	}
	if set.Lenses == 0 || set.NonLenses == 0 {
		return errInvalid("the grades give no training set", shared.FieldError{Key: "from_grades",
			Message: fmt.Sprintf("the rule gives %d lenses and %d non-lenses: a training set needs both (left out: %s)", set.Lenses, set.NonLenses, leftOut(set.LeftOut))})
	}
	staging := filepath.Join(stagingDir, req.Name)
	if err := s.stage(staging, set); err != nil {
		return err
	}
	return s.queueImport(w, r, c, req.Name, "graded", shared.ImportDataRequest{Source: filepath.ToSlash(staging), Seed: req.Seed})
}

// leftOut words a graded set's left-out counts.
func leftOut(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for reason, n := range m {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// stage writes a graded set's folder: a link per candidate, named
// UPLOAD-NAME in its class folder, and provenance.json.
func (s *Server) stage(dir string, set uploads.GradedSet) error {
	abs := s.abs(dir)
	if err := os.RemoveAll(abs); err != nil {
		return err
	}
	for _, c := range set.Candidates {
		link := filepath.Join(abs, c.Class, fmt.Sprintf("%d-%s", c.Upload, c.Name))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(s.abs(c.Path), link); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(set, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(abs, layout.ProvenanceFile), append(b, '\n'))
}

// queueImport records dataset name of kind (imported or graded) under
// DATA/datasets/NAME and queues the import-data run that builds it.
func (s *Server) queueImport(w http.ResponseWriter, r *http.Request, c *Call, name, kind string, im shared.ImportDataRequest) error {
	rel := filepath.Join("datasets", name)
	d, err := s.st.CreateDataset(r.Context(), store.Dataset{Name: name, Dir: rel, Kind: kind, Source: im.Source})
	if err != nil {
		return err
	}
	j, err := s.opt.Jobs.Submit(r.Context(), jobs.Submission{
		NewRun: store.NewRun{Kind: shared.KindImportData, Name: "import " + name, Dataset: d.ID, CreatedBy: c.User()},
		Params: jobs.Params{Out: rel, DataImport: &im},
	})
	if err != nil {
		return err
	}
	if err := s.st.SetDatasetJob(r.Context(), d.ID, j.ID); err != nil {
		return err
	}
	if err := s.st.Audit(r.Context(), c.User(), "dataset.import", "dataset "+name, fmt.Sprintf("run %d: %s %s", j.ID, kind, im.Source)); err != nil {
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
