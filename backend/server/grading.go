package server

import (
	"math"
	"net/http"

	"github.com/sslens/sslens/shared"
)

// grade records the caller's grade of an upload.
func (s *Server) grade(w http.ResponseWriter, r *http.Request, c *Call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req shared.GradeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	g, err := s.up.Grade(r.Context(), c.User(), id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

// grades answers what the caller may see of an upload's grades.
func (s *Server) grades(w http.ResponseWriter, r *http.Request, c *Call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.up.Grades(r.Context(), c.User(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// nextToGrade answers the candidate the caller should grade next (see
// uploads.Service.NextToGrade), or 204 when they have graded every one.
func (s *Server) nextToGrade(w http.ResponseWriter, r *http.Request, c *Call) error {
	ck, err := queryInt(r, "checkpoint", 0, 0, math.MaxInt)
	if err != nil {
		return err
	}
	u, ok, err := s.up.NextToGrade(r.Context(), c.User(), int64(ck))
	if err != nil {
		return err
	}
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// gradingSummary answers how far grading has gone and how good the
// default model's ranking is by the graders.
func (s *Server) gradingSummary(w http.ResponseWriter, r *http.Request, c *Call) error {
	sum, err := s.up.GradingSummary(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sum)
	return nil
}

// gradingRounds answers every scoring round judged by today's consensus
// at depth ?n= (default 50).
func (s *Server) gradingRounds(w http.ResponseWriter, r *http.Request, c *Call) error {
	n, err := queryInt(r, "n", 50, 1, 10000)
	if err != nil {
		return err
	}
	rs, err := s.up.Rounds(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}
