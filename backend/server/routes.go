package server

import (
	"net/http"

	"github.com/sslens/sslens/shared"
)

const (
	public     = shared.Role("")
	astronomer = shared.RoleAstronomer
	admin      = shared.RoleAdmin
)

// Routes is the API: every endpoint with the role it needs. New wraps
// each with the same checks (see wrap); tests walk this table to prove
// them on every route. API.md documents it.
func (s *Server) Routes() []Route {
	up := s.opt.Uploads.RequestBytes
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/health", Role: public, Handle: s.health},
		{Method: http.MethodPost, Pattern: "/api/login", Role: public, Handle: s.login},
		{Method: http.MethodPost, Pattern: "/api/logout", Role: astronomer, Handle: s.logout},
		{Method: http.MethodGet, Pattern: "/api/me", Role: astronomer, Handle: s.me},

		{Method: http.MethodGet, Pattern: "/api/users", Role: admin, Handle: s.listUsers},
		{Method: http.MethodPost, Pattern: "/api/users", Role: admin, Handle: s.createUser},
		{Method: http.MethodDelete, Pattern: "/api/users/{name}", Role: admin, Handle: s.deleteUser},
		{Method: http.MethodGet, Pattern: "/api/audit", Role: admin, Handle: s.auditLog},

		{Method: http.MethodGet, Pattern: "/api/datasets", Role: astronomer, Handle: s.listDatasets},
		{Method: http.MethodPost, Pattern: "/api/datasets", Role: admin, Handle: s.createDataset},
		{Method: http.MethodPost, Pattern: "/api/datasets/archives", Role: admin, MaxBody: s.opt.Uploads.ArchiveBytes, Stream: true, Handle: s.uploadArchive},
		{Method: http.MethodGet, Pattern: "/api/datasets/{id}", Role: astronomer, Handle: s.getDataset},
		{Method: http.MethodGet, Pattern: "/api/datasets/{id}/images", Role: astronomer, Handle: s.listImages},
		{Method: http.MethodGet, Pattern: "/api/datasets/{id}/images/{class}/{file}", Role: astronomer, Handle: s.imageDetail},
		{Method: http.MethodGet, Pattern: "/api/datasets/{id}/images/{class}/{file}/png", Role: astronomer, Handle: s.imagePNG},

		{Method: http.MethodGet, Pattern: "/api/configs", Role: astronomer, Handle: s.listTemplates},
		{Method: http.MethodPost, Pattern: "/api/configs/validate", Role: astronomer, Handle: s.validateConfig},
		{Method: http.MethodPost, Pattern: "/api/preview", Role: astronomer, Handle: s.preview},

		{Method: http.MethodGet, Pattern: "/api/runs", Role: astronomer, Handle: s.listRuns},
		{Method: http.MethodPost, Pattern: "/api/runs", Role: admin, Handle: s.createRun},
		{Method: http.MethodGet, Pattern: "/api/runs/{id}", Role: astronomer, Handle: s.getRun},
		{Method: http.MethodPost, Pattern: "/api/runs/{id}/cancel", Role: astronomer, Handle: s.cancelRun},
		{Method: http.MethodPost, Pattern: "/api/runs/{id}/resume", Role: admin, Handle: s.resumeRun},
		{Method: http.MethodGet, Pattern: "/api/runs/{id}/metrics", Role: astronomer, Handle: s.runMetrics},
		{Method: http.MethodGet, Pattern: "/api/runs/{id}/events", Role: astronomer, Handle: s.runEvents},
		{Method: http.MethodGet, Pattern: "/api/runs/{id}/logs", Role: astronomer, Handle: s.runLogs},
		{Method: http.MethodGet, Pattern: "/api/runs/{id}/checkpoints", Role: astronomer, Handle: s.runCheckpoints},
		{Method: http.MethodGet, Pattern: "/api/runs/{id}/catalogue", Role: astronomer, Handle: s.catalogue},
		{Method: http.MethodGet, Pattern: "/api/runs/{id}/catalogue/{name}", Role: astronomer, Stream: true, Handle: s.catalogueFile},

		{Method: http.MethodGet, Pattern: "/api/results", Role: astronomer, Handle: s.results},
		{Method: http.MethodGet, Pattern: "/api/results/{run}", Role: astronomer, Handle: s.runResults},
		{Method: http.MethodGet, Pattern: "/api/models", Role: astronomer, Handle: s.models},
		{Method: http.MethodPost, Pattern: "/api/models/default", Role: admin, Handle: s.promoteModel},

		{Method: http.MethodPost, Pattern: "/api/uploads", Role: astronomer, MaxBody: up, Handle: s.upload},
		{Method: http.MethodGet, Pattern: "/api/uploads", Role: astronomer, Handle: s.listUploads},
		{Method: http.MethodPost, Pattern: "/api/uploads/score", Role: astronomer, Handle: s.scoreBatch},
		{Method: http.MethodGet, Pattern: "/api/uploads/export", Role: astronomer, Stream: true, Handle: s.export},
		{Method: http.MethodGet, Pattern: "/api/uploads/{id}", Role: astronomer, Handle: s.getUpload},
		{Method: http.MethodGet, Pattern: "/api/uploads/{id}/detail", Role: astronomer, Handle: s.uploadDetail},
		{Method: http.MethodGet, Pattern: "/api/uploads/{id}/png", Role: astronomer, Handle: s.uploadPNG},
		{Method: http.MethodGet, Pattern: "/api/uploads/{id}/similar", Role: astronomer, Handle: s.similar},
		{Method: http.MethodPut, Pattern: "/api/uploads/{id}/grade", Role: astronomer, Handle: s.grade},
		{Method: http.MethodGet, Pattern: "/api/uploads/{id}/grades", Role: astronomer, Handle: s.grades},
		{Method: http.MethodGet, Pattern: "/api/grading", Role: astronomer, Handle: s.gradingSummary},
		{Method: http.MethodGet, Pattern: "/api/grading/next", Role: astronomer, Handle: s.nextToGrade},
		{Method: http.MethodGet, Pattern: "/api/grading/rounds", Role: astronomer, Handle: s.gradingRounds},

		{Method: http.MethodGet, Pattern: "/api/ws", Role: astronomer, Stream: true, Handle: s.serveWS},
	}
}
