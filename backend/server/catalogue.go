package server

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sslens/sslens/backend/scoring"
	"github.com/sslens/sslens/shared"
)

// catalogueFiles are the files of a score-survey run that can be
// downloaded: the ranking in three formats (VOTable for up to 100,000
// rows), and the scores in input order with the errors of unreadable
// cutouts (an unsharded run's).
var catalogueFiles = []string{scoring.RankedFile, scoring.RankedFITS, scoring.RankedVOTable, scoring.ScoresFile}

// catalogueTop is how many of the ranking's first rows the catalogue shows.
const catalogueTop = 50

// catalogue answers GET /api/runs/{id}/catalogue: a score-survey run's
// files so far and the top of its ranking.
func (s *Server) catalogue(w http.ResponseWriter, r *http.Request, c *Call) error {
	dir, err := s.surveyDir(r)
	if err != nil {
		return err
	}
	out := shared.Catalogue{Files: []shared.CatalogueFile{}, Top: []shared.RankedCutout{}}
	for _, name := range catalogueFiles {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
			out.Files = append(out.Files, shared.CatalogueFile{Name: name, Bytes: st.Size()})
		}
	}
	if slices.ContainsFunc(out.Files, func(f shared.CatalogueFile) bool { return f.Name == scoring.RankedFile }) {
		top, err := scoring.Top(filepath.Join(dir, scoring.RankedFile), catalogueTop)
		if err != nil {
			return err
		}
		root := s.opt.DataDir + string(filepath.Separator)
		for i := range top {
			top[i].File = strings.TrimPrefix(top[i].File, root)
		}
		out.Top = top
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// catalogueFile answers GET /api/runs/{id}/catalogue/{name}: one of the
// files, as a download.
func (s *Server) catalogueFile(w http.ResponseWriter, r *http.Request, c *Call) error {
	dir, err := s.surveyDir(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if !slices.Contains(catalogueFiles, name) {
		return errNotFound("a catalogue has no file %q: want one of %s", name, strings.Join(catalogueFiles, ", "))
	}
	f, err := os.Open(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return errNotFound("the run has no %s yet", name)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	switch filepath.Ext(name) {
	case ".fits":
		w.Header().Set("Content-Type", "application/fits")
	case ".vot":
		w.Header().Set("Content-Type", "application/x-votable+xml")
	default:
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	http.ServeContent(w, r, name, st.ModTime(), f)
	return nil
}

// surveyDir is the folder of the score-survey run the path names.
func (s *Server) surveyDir(r *http.Request) (string, error) {
	j, err := s.pathRun(r)
	if err != nil {
		return "", err
	}
	if j.Kind != shared.KindSurvey {
		return "", errNotFound("run %d is a %s run, which writes no catalogue", j.ID, j.Kind)
	}
	return s.abs(j.Dir), nil
}
