// Package uploads is the domain of the cutouts astronomers upload: reading
// an upload request (multipart parts received to disk, then zip archives
// expanded one member at a time within Limits), validating each file by its
// own name and content and storing its bytes once, by their SHA-256, under
// DATA/uploads,
// scoring uploads with a classifier checkpoint and ranking them, finding
// the training images nearest to an upload by embedding, and exporting
// scores as CSV or VOTable.
//
// Models run in child processes (`sslens score` and `sslens embed`,
// through the Model interface that jobs.Tool implements), so this package
// never links the training stack. The portal's HTTP handlers decode a
// request, call one Service method and encode its answer; a request the
// service refuses is an *Error whose Kind says how to answer it.
package uploads

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/store"
)

// Model scores and embeds cutouts with a checkpoint (paths are absolute).
type Model interface {
	// Score returns P(lens) of each file, and the files that could not be
	// scored with the reason.
	Score(ctx context.Context, checkpoint string, files []string) ([]jobs.FileScore, map[string]string, error)
	// Embed returns the embeddings of a dataset folder's images (split
	// all, train, val or test).
	Embed(ctx context.Context, checkpoint, dataDir, split string) ([]jobs.Embedding, error)
	// EmbedFiles returns the embeddings of image files, in order.
	EmbedFiles(ctx context.Context, checkpoint string, files []string) ([]jobs.Embedding, error)
}

// Options configure a Service.
type Options struct {
	DataDir string // absolute; files are kept under DataDir/uploads
	Store   *store.Store
	Model   Model  // nil: nothing is scored or embedded
	Limits  Limits // zero fields: DefaultLimits
	// ScoreWorkers bounds concurrent scoring processes; default 1.
	ScoreWorkers int
	Log          *slog.Logger // default slog.Default()
	// OpenGrading shows a candidate's other grades to users who have not
	// graded it yet; by default grading is blind, as expert grading is.
	OpenGrading bool
}

// Service keeps, scores, ranks, compares and exports uploads.
type Service struct {
	dir    string
	st     *store.Store
	model  Model
	lim    Limits
	log    *slog.Logger
	users  *userBudgets  // expansion of each user's requests in progress
	scoreQ chan struct{} // a slot per concurrent scoring process
	embeds *embedCache   // training-set embeddings of recent checkpoints
	open   bool          // Options.OpenGrading
}

// New returns a service over opt.Store.
func New(opt Options) *Service {
	workers := max(opt.ScoreWorkers, 1)
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	if filepath.IsAbs(opt.DataDir) { // what a crash left of requests being received
		if err := os.RemoveAll(filepath.Join(opt.DataDir, incomingDir)); err != nil {
			log.Error("uploads: removing requests left by a crash", "err", err)
		}
	}
	lim := opt.Limits.withDefaults()
	return &Service{dir: opt.DataDir, st: opt.Store, model: opt.Model, lim: lim, log: log, users: newUserBudgets(lim.UserExpandBytes),
		scoreQ: make(chan struct{}, workers), embeds: newEmbedCache(4), open: opt.OpenGrading}
}

// abs resolves a data-relative path.
func (s *Service) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.dir, p)
}
