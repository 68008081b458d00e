package shared

import "time"

// DatasetState says whether a dataset can be browsed and trained on.
type DatasetState string

const (
	DatasetBuilding DatasetState = "building" // its simulate or import job has not finished
	DatasetReady    DatasetState = "ready"
	DatasetFailed   DatasetState = "failed"  // its simulate or import job failed or was cancelled
	DatasetMissing  DatasetState = "missing" // the folder is gone or unreadable
)

// Dataset is a folder of cutouts (lenses/ and nonlenses/, or unlabelled/
// for imported survey data without classes, a splits file and
// metadata.csv).
type Dataset struct {
	ID        int64        `json:"id"`
	Name      string       `json:"name"`
	Kind      string       `json:"kind"` // "simulated", "imported", "graded" (from the grades) or "files"
	State     DatasetState `json:"state"`
	Job       int64        `json:"job,omitempty"` // the simulate run that builds it
	Created   time.Time    `json:"created"`
	Survey    string       `json:"survey,omitempty"` // simulator preset, e.g. hsc
	Source    string       `json:"source,omitempty"` // imported: the folder or archive, relative to the data folder
	Counts    string       `json:"counts,omitempty"` // simulator size preset, e.g. seed, small
	Images    int          `json:"images"`
	Lenses    int          `json:"lenses"`
	NonLenses int          `json:"non_lenses"`
	// Unlabelled counts the cutouts of unknown class (imported survey
	// data), which train self-supervised methods only.
	Unlabelled int `json:"unlabelled,omitempty"`
	// Splits maps train, val and test to their class counts; empty when the
	// dataset has no splits file.
	Splits map[string]ClassCount `json:"splits,omitempty"`
	// SortKeys are the parameters images can be sorted by (metadata.csv
	// columns such as theta_e, magnification, lens_mag_i); empty when the
	// dataset has no metadata.
	SortKeys []string `json:"sort_keys,omitempty"`
}

// ClassCount counts the images of each class.
type ClassCount struct {
	Lenses     int `json:"lenses"`
	NonLenses  int `json:"non_lenses"`
	Unlabelled int `json:"unlabelled,omitempty"`
}

// CreateDatasetRequest is the body of POST /api/datasets: simulate a new
// dataset with the simulator's presets (a run of kind simulate), or,
// with Import, import survey cutouts on the server (a run of kind
// import-data).
type CreateDatasetRequest struct {
	Name   string             `json:"name"`   // folder name: letters, digits, - and _
	Survey string             `json:"survey"` // hsc (default), des, lsst
	Counts string             `json:"counts"` // seed (default, 5050 images), small (303)
	Seed   uint64             `json:"seed"`
	Import *ImportDataRequest `json:"import,omitempty"`
	// FromGrades makes a labelled dataset of the graded candidates (a run
	// of kind import-data over them); Seed draws its splits.
	FromGrades *GradedSetRequest `json:"from_grades,omitempty"`
}

// GradedSetRequest says which graded candidates become training labels:
// a candidate whose consensus class is one of LensClasses, with at least
// MinLensGraders grades, is a lens; one whose consensus is 0 with at least
// MinNonLensGraders grades of 0 is a non-lens; the others (C, or too few
// graders) are left out. The rule is recorded with the dataset.
type GradedSetRequest struct {
	LensClasses       []string `json:"lens_classes,omitempty"`        // default A and B
	MinLensGraders    int      `json:"min_lens_graders,omitempty"`    // default 1
	MinNonLensGraders int      `json:"min_nonlens_graders,omitempty"` // default 2
}

// WithDefaults fills the rule's unset fields with the defaults.
func (r GradedSetRequest) WithDefaults() GradedSetRequest {
	if len(r.LensClasses) == 0 {
		r.LensClasses = []string{GradeA, GradeB}
	}
	if r.MinLensGraders == 0 {
		r.MinLensGraders = 1
	}
	if r.MinNonLensGraders == 0 {
		r.MinNonLensGraders = 2
	}
	return r
}

// ArchiveUpload answers POST /api/datasets/archives?name=NAME: where the
// uploaded archive of cutouts was stored, for ImportDataRequest.Source.
type ArchiveUpload struct {
	Path  string `json:"path"` // relative to the data folder
	Bytes int64  `json:"bytes"`
}

// ImportDataRequest imports survey cutouts (see sslens import-data): files
// under lenses/ and nonlenses/ folders are labelled, a source without such
// folders is unlabelled. Bad files and duplicates are reported, not fatal.
type ImportDataRequest struct {
	// Source is a folder or a .zip, .tar, .tar.gz or .tgz archive,
	// relative to the data folder (an uploaded archive's path).
	Source string `json:"source"`
	Seed   uint64 `json:"seed,omitempty"` // of drawn splits
	// Splits are the train, val and test shares of drawn splits; empty:
	// the reference dataset's (0.765, 0.085, 0.15).
	Splits      []float64 `json:"splits,omitempty"`
	SameObject  float64   `json:"same_object,omitempty"`  // arcsec, reported as one object (default 1)
	GroupRadius float64   `json:"group_radius,omitempty"` // arcsec, kept in one split (default 10)
	ZAsI        bool      `json:"z_as_i,omitempty"`       // read a z band as i
}

// Class names an image's class folder in API paths and filters.
const (
	ClassLens       = "lenses"
	ClassNonLens    = "nonlenses"
	ClassUnlabelled = "unlabelled"
)

// ImageSummary is one image in a dataset listing. ID is its path inside
// the dataset, "lenses/12.npy"; it is used in URLs as is.
type ImageSummary struct {
	ID    string `json:"id"`
	Class string `json:"class"`           // ClassLens, ClassNonLens or ClassUnlabelled
	Split string `json:"split,omitempty"` // train, val, test; empty when in no split
	Kind  string `json:"kind,omitempty"`  // simulator kind: lens, elliptical, spiral, ...
	// Params are the simulator's numeric parameters (metadata.csv columns;
	// lens-only ones absent for non-lenses).
	Params map[string]float64 `json:"params,omitempty"`
}

// ImagePage answers GET /api/datasets/{id}/images.
type ImagePage struct {
	Dataset int64          `json:"dataset"`
	Total   int            `json:"total"` // images matching the filters
	Page    int            `json:"page"`  // from 1
	PerPage int            `json:"per_page"`
	Images  []ImageSummary `json:"images"`
}

// BandStats summarises one band of an image, in the file's flux units.
type BandStats struct {
	Band   string  `json:"band"` // g, r, i
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
	Median float64 `json:"median"`
	P01    float64 `json:"p01"` // 1st percentile
	P99    float64 `json:"p99"` // 99th percentile
}

// ImageDetail answers GET /api/datasets/{id}/images/{class}/{file} and
// GET /api/uploads/{id}/detail.
type ImageDetail struct {
	ImageSummary
	Size         [3]int      `json:"size"` // C, H, W of the stored file
	Bands        []BandStats `json:"bands"`
	Contaminants []string    `json:"contaminants,omitempty"` // simulator: neighbours, stars, artefacts
	// Pixels holds the bands (g, r, i) row-major, H*W values each, when the
	// request asked for them with ?pixels=1.
	Pixels [][]float32 `json:"pixels,omitempty"`
	// Layers are an upload's display layers beside its bands (mask: what
	// the survey's MASK blanked; sigma: the noise from its VARIANCE), for
	// its PNG's layer parameter.
	Layers []string `json:"layers,omitempty"`
}

// Stretches are the values of the stretch query parameter of PNG routes:
// asinh is the Lupton RGB composite (band rgb) or an asinh single band.
var Stretches = []string{"asinh", "linear", "sqrt", "log"}

// PreviewRequest is the body of POST /api/preview: show the augmented
// views a method would train on for one dataset image.
type PreviewRequest struct {
	Dataset int64  `json:"dataset"`
	Image   string `json:"image"` // ImageSummary.ID
	// Exactly one of Template (a ConfigTemplate name, e.g.
	// "reference/dino-vit-small") and Config (YAML text) names the method
	// and its augmentation settings.
	Template string `json:"template,omitempty"`
	Config   string `json:"config,omitempty"`
	Seed     uint64 `json:"seed"`
	Scale    int    `json:"scale,omitempty"` // PNG upscale factor, 1-8 (default 4)
}

// PreviewView is one augmented view, rendered as a Lupton composite after
// undoing the normalisation.
type PreviewView struct {
	Kind  string `json:"kind"`  // "global" or "local"
	Index int    `json:"index"` // within its kind, from 0
	Size  int    `json:"size"`  // side in pixels before upscaling
	PNG   []byte `json:"png"`
	// Mask is the iBOT patch mask of a global view (row-major, true =
	// masked) on a MaskSide x MaskSide grid, and MaskPNG the view with the
	// masked patches shaded; both absent when the method masks nothing.
	Mask     []bool `json:"mask,omitempty"`
	MaskSide int    `json:"mask_side,omitempty"`
	MaskPNG  []byte `json:"mask_png,omitempty"`
}

// PreviewResponse answers POST /api/preview.
type PreviewResponse struct {
	Method   string        `json:"method"` // dino, ibot, simsiam, none
	Seed     uint64        `json:"seed"`
	Original []byte        `json:"original"` // PNG of the input image, whole stamp
	Views    []PreviewView `json:"views"`
	Warnings []string      `json:"warnings,omitempty"` // config keys ignored
}
