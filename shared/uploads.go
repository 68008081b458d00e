package shared

import "time"

// Upload is a cutout file a user uploaded, under its own name and judged
// by it; its bytes are stored once per content (by SHA-256) and shared
// with every other upload of them, as is their score.
type Upload struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`   // sanitised base name, e.g. "J1234+5678.fits"
	SHA256  string    `json:"sha256"` // hex of the file's bytes
	Format  string    `json:"format"` // npy, fits, fits.gz, png, jpeg
	Size    int64     `json:"size"`   // bytes
	Created time.Time `json:"created"`
	User    string    `json:"user"`
	Width   int       `json:"width"` // of the stored image, before cropping
	Height  int       `json:"height"`
	// Score is the upload's score by the checkpoint asked for (the default
	// one unless a request names another); nil when not scored by it.
	Score *Score `json:"score,omitempty"`
	// Object is the file's OBJECT keyword and Position its centre on the
	// sky (a FITS WCS, or RA/DEC keywords); nil when the file gives none.
	Object   string    `json:"object,omitempty"`
	Position *Position `json:"position,omitempty"`
	// BandWarning names a band read in place of another at the uploader's
	// request ("z as i"): the model was not trained on it, so every score
	// of the upload carries the warning. "" for g, r, i.
	BandWarning string `json:"band_warning,omitempty"`
	// SamePosition lists the other uploads within 1 arcsec of Position.
	SamePosition []int64 `json:"same_position,omitempty"`
	// MyGrade is the caller's grade; Grades and Consensus every grader's,
	// once the caller has graded it (always with open grading).
	MyGrade   string     `json:"my_grade,omitempty"`
	Grades    []Grade    `json:"grades,omitempty"`
	Consensus *Consensus `json:"consensus,omitempty"`
}

// Position is a cutout's centre: ICRS degrees, the same written as
// astronomers do ("hh:mm:ss.ss +dd:mm:ss.s"), and where it came from (WCS,
// RA/DEC, OBJRA/OBJDEC).
type Position struct {
	RA          float64 `json:"ra"`
	Dec         float64 `json:"dec"`
	Sexagesimal string  `json:"sexagesimal"`
	From        string  `json:"from"`
	// Orientation is the WCS's at the centre; nil without a WCS.
	Orientation *Orientation `json:"orientation,omitempty"`
}

// Orientation is how the sky lies on a cutout as the portal shows it
// (x along a row, y from one row to the next, downwards on the screen):
// the pixel scale and unit vectors pointing north and east.
type Orientation struct {
	Scale float64    `json:"scale"` // arcseconds per pixel
	North [2]float64 `json:"north"`
	East  [2]float64 `json:"east"`
}

// Score is the lens probability a checkpoint gives an upload.
type Score struct {
	Upload     int64     `json:"upload"`
	Checkpoint int64     `json:"checkpoint"`
	LensProb   float64   `json:"lens_prob"` // P(lens) in [0, 1]
	Created    time.Time `json:"created"`
}

// UploadFile is the outcome for one file of an upload request, in request
// order (zip members in archive order). Exactly one of Upload and Error is
// set. Duplicate is true when the user had uploaded the same bytes under
// the same name before: that Upload is returned.
type UploadFile struct {
	Name      string  `json:"name"` // sanitised; "archive.zip/member.npy" for zip members
	Upload    *Upload `json:"upload,omitempty"`
	Error     string  `json:"error,omitempty"`
	Duplicate bool    `json:"duplicate,omitempty"`
	// Note says what became of a file that is not an upload of its own:
	// a single band combined with the object's other bands into Upload.
	Note string `json:"note,omitempty"`
}

// ScoringState says whether an upload request's good files were scored.
type ScoringState string

const (
	ScoringDone    ScoringState = "scored"
	ScoringNoModel ScoringState = "no_model" // no classifier checkpoint yet; files are kept, to be scored later (POST /api/uploads/score)
	ScoringFailed  ScoringState = "failed"   // see UploadResponse.Message
	ScoringNone    ScoringState = "nothing"  // no valid file to score
)

// UploadResponse answers POST /api/uploads (multipart/form-data, one or
// more "file" parts; an optional "checkpoint" field picks the model).
// Uploads holds the valid files' uploads with their scores, sorted by lens
// probability, highest first.
type UploadResponse struct {
	Files      []UploadFile `json:"files"`
	Accepted   int          `json:"accepted"`
	Rejected   int          `json:"rejected"`
	Scoring    ScoringState `json:"scoring"`
	Message    string       `json:"message,omitempty"`
	Checkpoint int64        `json:"checkpoint,omitempty"` // the model that scored them
	Uploads    []Upload     `json:"uploads"`
}

// ScoreRequest is the body of POST /api/uploads/score: score stored
// uploads (all of them when Uploads is empty) with a checkpoint (default:
// the default model) as a score-batch run.
type ScoreRequest struct {
	Checkpoint int64   `json:"checkpoint,omitempty"`
	Uploads    []int64 `json:"uploads,omitempty"`
}

// ModelStatus answers GET /api/models: the checkpoints that can score
// (classifiers) and the default one, which an admin promoted (the first
// classifier trained is promoted once, automatically).
type ModelStatus struct {
	Ready       bool         `json:"ready"`             // a default model exists
	Message     string       `json:"message,omitempty"` // when not ready: why, and what is under way
	Default     int64        `json:"default,omitempty"`
	PromotedBy  string       `json:"promoted_by,omitempty"`
	Promoted    time.Time    `json:"promoted,omitzero"`
	Checkpoints []Checkpoint `json:"checkpoints"`
}

// PromoteRequest is the body of POST /api/models/default: make a
// checkpoint the default model.
type PromoteRequest struct {
	Checkpoint int64 `json:"checkpoint"`
}

// PromoteResponse answers a promotion: the new default and the
// score-batch run that re-scores every upload with it (nil when there are
// no uploads).
type PromoteResponse struct {
	Default int64 `json:"default"`
	Rescore *Run  `json:"rescore,omitempty"`
}

// Neighbour is a training image close to a query in embedding space.
type Neighbour struct {
	Dataset    int64   `json:"dataset"`
	Image      string  `json:"image"` // ImageSummary.ID
	Class      string  `json:"class"`
	Similarity float64 `json:"similarity"` // cosine of L2-normalised CLS embeddings, in [-1, 1]
}

// Similar answers GET /api/uploads/{id}/similar?k=K: the K nearest
// training images, most similar first.
type Similar struct {
	Upload     int64       `json:"upload"`
	Checkpoint int64       `json:"checkpoint"`
	Neighbours []Neighbour `json:"neighbours"`
}

// Grades a lens search gives candidates (SuGOHI, Euclid Q1): A a definite
// lens, B a probable one, C a possible one, 0 not a lens.
const (
	GradeA    = "A"
	GradeB    = "B"
	GradeC    = "C"
	GradeNone = "0"
)

// Grades lists the grades, best first.
var Grades = []string{GradeA, GradeB, GradeC, GradeNone}

// Grade is one user's grade of a candidate. Grades belong to the bytes:
// every upload of the same file shares them.
type Grade struct {
	Upload int64     `json:"upload"`
	User   string    `json:"user"`
	Grade  string    `json:"grade"` // A, B, C or 0
	Note   string    `json:"note,omitempty"`
	Flags  []string  `json:"flags,omitempty"` // e.g. artefact, ring galaxy, needs spectroscopy
	Time   time.Time `json:"time"`
	// LensProb is the default model's P(lens) when the grade was given
	// (nil when unscored), and Checkpoint that model.
	LensProb   *float64 `json:"lens_prob,omitempty"`
	Checkpoint int64    `json:"checkpoint,omitempty"`
}

// GradeRequest is the body of PUT /api/uploads/{id}/grade.
type GradeRequest struct {
	Grade string   `json:"grade"`
	Note  string   `json:"note,omitempty"`
	Flags []string `json:"flags,omitempty"`
}

// Consensus sums up a candidate's grades: how many graders, the mean grade
// on A = 3, B = 2, C = 1, 0 = 0, its spread (standard deviation), and the
// final class from the mean, as SuGOHI does (A for a mean of at least 2.5,
// B 1.5, C 0.5, else 0).
type Consensus struct {
	Graders int     `json:"graders"`
	Mean    float64 `json:"mean"`
	Spread  float64 `json:"spread"`
	Class   string  `json:"class"`
}

// GradesView answers GET /api/uploads/{id}/grades: the caller's grade, and
// the others' with their consensus once the caller has graded (grading is
// blind unless the server is run with open grading; Hidden says so).
type GradesView struct {
	Mine      *Grade     `json:"mine,omitempty"`
	Others    []Grade    `json:"others,omitempty"`
	Consensus *Consensus `json:"consensus,omitempty"`
	Hidden    bool       `json:"hidden,omitempty"`
}

// GradingSummary answers GET /api/grading: how far grading has gone, how
// well graders agree, and how good the default model's ranking is by the
// graders' consensus.
type GradingSummary struct {
	Candidates int `json:"candidates"` // valid uploads
	Graded     int `json:"graded"`     // with at least one grade
	// Kappa is Fleiss' kappa over the candidates with two or more graders
	// (KappaCandidates of them); absent with fewer than two such.
	Kappa           *float64 `json:"kappa,omitempty"`
	KappaCandidates int      `json:"kappa_candidates"`
	// Purity at N: of the top N candidates by the default model, how many
	// are graded and how many of those have a consensus of A or B; Missed
	// counts the A and B candidates ranked below N.
	Purity []PurityAtN `json:"purity"`
}

// PurityAtN is the ranking's quality at one depth N.
// Rounds answers GET /api/grading/rounds?n=N: each model that scored the
// candidates, in the order it first did (a round of retraining), judged
// by today's consensus at depth N.
type Rounds struct {
	N      int     `json:"n"`
	Rounds []Round `json:"rounds"`
}

// Round is one model's ranking of the candidates.
type Round struct {
	Checkpoint int64     `json:"checkpoint"`
	Model      string    `json:"model"` // run · checkpoint
	Scored     int       `json:"scored"`
	First      time.Time `json:"first"` // when it first scored
	Purity     PurityAtN `json:"purity"`
	// NewInTop are the A and B candidates (by consensus) in its top N that
	// the round before ranked lower or did not score; empty in the first
	// round.
	NewInTop []RoundCandidate `json:"new_in_top"`
	// Movers are the candidates whose rank changed most since the round
	// before, at most 10.
	Movers []RoundCandidate `json:"movers"`
}

// RoundCandidate is a candidate's rank in a round and the round before
// (from 1; 0: not scored).
type RoundCandidate struct {
	Upload    int64  `json:"upload"`
	Name      string `json:"name"`
	Rank      int    `json:"rank"`
	PrevRank  int    `json:"prev_rank"`
	Consensus string `json:"consensus,omitempty"` // A, B, C or 0; "" ungraded
}

type PurityAtN struct {
	N      int     `json:"n"`
	Graded int     `json:"graded"`
	Lenses int     `json:"lenses"` // consensus A or B
	Purity float64 `json:"purity"` // Lenses / Graded; 0 when none graded
	Missed int     `json:"missed"`
}
