package dataimport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/sky"
)

// Defaults of Options.
const (
	// DefaultSameObject is how close two cutouts' centres are, in
	// arcseconds, to be reported as the same object.
	DefaultSameObject = 1.0
	// DefaultGroupRadius is how close two cutouts' centres are, in
	// arcseconds, to be kept in one split: an HSC cutout of 64 px is 10.8"
	// wide, so closer ones share sky.
	DefaultGroupRadius = 10.0
	// DefaultCrop is the smallest side a cutout may have: the models'
	// input, 32 px.
	DefaultCrop = 32
)

// DefaultFractions are the train, val and test shares of created splits:
// the reference dataset's, 3863, 429 and 758 of 5050 cutouts.
var DefaultFractions = [3]float64{3863.0 / 5050, 429.0 / 5050, 758.0 / 5050}

// Options configure an import; zero values take the defaults.
type Options struct {
	Seed        uint64     // draws the splits
	Fractions   [3]float64 // train, val, test shares of created splits
	SameObject  float64    // arcsec
	GroupRadius float64    // arcsec
	Crop        int        // px
	Workers     int        // decoders; 0: one per core
	// ZAsI reads a z band as i (Legacy Surveys g, r, z cutouts), as
	// uploads may.
	ZAsI bool
	// Progress, when set, is told after every file.
	Progress func(Progress)
}

func (o Options) withDefaults() (Options, error) {
	if o.Fractions == ([3]float64{}) {
		o.Fractions = DefaultFractions
	}
	var sum float64
	for _, f := range o.Fractions {
		if !(f >= 0) {
			return o, fmt.Errorf("split fractions %v: want non-negative shares", o.Fractions)
		}
		sum += f
	}
	if o.Fractions[0] <= 0 || sum <= 0 {
		return o, fmt.Errorf("split fractions %v: the train share must be positive", o.Fractions)
	}
	for i := range o.Fractions {
		o.Fractions[i] /= sum
	}
	if o.SameObject == 0 {
		o.SameObject = DefaultSameObject
	}
	if o.GroupRadius == 0 {
		o.GroupRadius = DefaultGroupRadius
	}
	if !(o.SameObject > 0) || !(o.GroupRadius >= o.SameObject) {
		return o, fmt.Errorf("same-object radius %g\" and group radius %g\": want 0 < same-object <= group", o.SameObject, o.GroupRadius)
	}
	if o.Crop == 0 {
		o.Crop = DefaultCrop
	}
	if o.Crop < 0 {
		return o, fmt.Errorf("crop %d px: want > 0", o.Crop)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o, nil
}

// Progress counts an import's files so far.
type Progress struct {
	Files      int           `json:"files"` // read from the source
	Total      int           `json:"total"` // in the source; 0 while unknown (a tar archive)
	Imported   int           `json:"imported"`
	Bad        int           `json:"bad"`
	Duplicates int           `json:"duplicates"` // same pixels as a file imported before
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// Rate is the files read per second.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Files) / p.Elapsed.Seconds()
}

// SecondsLeft is the time the rest should take at the rate so far; 0
// when the total is unknown.
func (p Progress) SecondsLeft() float64 {
	if r := p.Rate(); r > 0 && p.Total > p.Files {
		return float64(p.Total-p.Files) / r
	}
	return 0
}

// WriteProgress replaces the progress file at path.
func WriteProgress(path string, p Progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// ReadProgress reads the progress file at path.
func ReadProgress(path string) (Progress, error) {
	var p Progress
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil {
		return Progress{}, fmt.Errorf("dataimport: progress: %w", err)
	}
	return p, nil
}

// cutout is one imported cutout.
type cutout struct {
	label    data.Label
	labelled bool // found under lenses/ or nonlenses/
	file     string
	source   string
	object   string
	pos      *sky.Position
	from     sky.Source
	sha      string // of the canonical .npy
	h, w     int
	moments  data.Moments // of the centre crop, for the statistics
}

// key is a cutout's dataset-relative name, lenses/a.npy.
func (c *cutout) key() string { return data.ClassDirs[c.label] + "/" + c.file }

// decoded is what a decoder makes of one entry.
type decoded struct {
	entry
	npy     []byte
	sum     [32]byte
	meta    data.Meta
	h, w    int
	moments data.Moments
	kept    bool // a splits or provenance file, kept as read
}

// Import reads every cutout of source (a folder, or a .zip, .tar, .tar.gz
// or .tgz archive) into a new dataset folder out, which must not exist or
// be empty, and returns the report it also writes there. A file that
// cannot be imported is listed with its reason and skipped; the import
// fails only when nothing can be imported, the source cannot be read, or
// ctx ends, and then leaves no dataset folder behind.
func Import(ctx context.Context, source, out string, opt Options) (*Report, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("dataimport: %w", err)
	}
	if err := checkOut(out); err != nil {
		return nil, err
	}
	src, err := openSource(source)
	if err != nil {
		return nil, fmt.Errorf("dataimport: %w", err)
	}
	tmp := out + ".importing"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("dataimport: %w", err)
	}
	imp := &importer{opt: opt, dir: tmp, src: src, start: time.Now(), seen: map[[32]byte]int{}, names: map[string]string{},
		rep: &Report{Source: source}}
	if err := imp.run(ctx); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := imp.finish(); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("dataimport: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("dataimport: %w", err)
	}
	return imp.rep, nil
}

// checkOut refuses an output folder that holds anything.
func checkOut(out string) error {
	ents, err := os.ReadDir(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(filepath.Dir(out), 0o755)
	case err != nil:
		return fmt.Errorf("dataimport: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("dataimport: %s is not empty: an import writes a new dataset folder", out)
	}
	return nil
}

// importer is one import under way.
type importer struct {
	opt        Options
	dir        string // the folder being written, renamed to out at the end
	src        walker
	start      time.Time
	rep        *Report
	cuts       []cutout
	seen       map[[32]byte]int  // content -> index in cuts
	names      map[string]string // dataset-relative name -> source path
	splitFiles []entry           // splits files found
	provenance []byte            // the source's provenance.json, copied as it is
	prog       Progress
}

// run decodes the source's files on opt.Workers goroutines and takes the
// results in the source's order, so that names and reports do not depend
// on timing.
func (imp *importer) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		seq int
		e   entry
	}
	type done struct {
		seq int
		d   decoded
	}
	jobs := make(chan job, 2*imp.opt.Workers)
	results := make(chan done, 2*imp.opt.Workers)
	var walkErr error
	go func() {
		defer close(jobs)
		seq := 0
		walkErr = imp.src.walk(ctx, func(e entry) error {
			select {
			case jobs <- job{seq, e}:
				seq++
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var wg sync.WaitGroup
	for range imp.opt.Workers {
		wg.Go(func() {
			for j := range jobs {
				d := imp.decode(j.e)
				select {
				case results <- done{j.seq, d}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()

	pending := map[int]decoded{}
	next := 0
	imp.prog.Total = imp.src.total()
	for r := range results {
		pending[r.seq] = r.d
		for {
			d, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := imp.take(d); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if walkErr != nil {
		return fmt.Errorf("dataimport: %w", walkErr)
	}
	imp.rep.Files = imp.prog.Files
	return nil
}

// decode validates one file with the readers uploads use and encodes it
// as the canonical .npy, (3, H, W) float32.
func (imp *importer) decode(e entry) decoded {
	d := decoded{entry: e}
	if e.err != nil || isSplitsFile(path.Base(e.path)) || e.path == layout.ProvenanceFile {
		d.kept = e.err == nil
		return d
	}
	im, meta, err := data.DecodeCutout(path.Base(e.path), e.body, data.ReadOptions{ZAsI: imp.opt.ZAsI})
	var crop data.Image
	if err == nil {
		crop, err = data.CenterCrop(im, imp.opt.Crop, imp.opt.Crop)
	}
	if err != nil {
		var fe *data.FileError
		if errors.As(err, &fe) {
			err = fe.Err
		}
		if errors.Is(err, data.ErrSingleBand) {
			err = fmt.Errorf("%w: an import takes cutouts with g, r and i in one file; stack the bands of each object first", err)
		}
		d.err = err
		return d
	}
	d.npy = data.EncodeNPY(im)
	d.sum = sha256.Sum256(d.npy)
	d.meta, d.h, d.w, d.moments = meta, im.H, im.W, data.MomentsOf(crop)
	d.body = nil
	return d
}

// take records one decoded file, in source order: a splits file is kept,
// a bad file or a repeat of earlier pixels is reported, a good one is
// written.
func (imp *importer) take(d decoded) error {
	imp.prog.Files++
	defer imp.tell()
	switch {
	case d.kept && d.path == layout.ProvenanceFile:
		imp.provenance = d.body
		return nil
	case d.kept:
		imp.splitFiles = append(imp.splitFiles, d.entry)
		return nil
	}
	if d.err != nil {
		imp.bad(d.path, d.err.Error())
		return nil
	}
	label, rel, labelled := classOf(d.path)
	c := cutout{label: label, labelled: labelled, file: canonicalName(rel), source: d.path, object: d.meta.Object,
		pos: d.meta.Position, from: d.meta.PositionFrom, sha: hex.EncodeToString(d.sum[:]), h: d.h, w: d.w, moments: d.moments}
	if i, dup := imp.seen[d.sum]; dup {
		first := imp.cuts[i]
		note := ""
		if first.label != c.label {
			note = fmt.Sprintf(" (there %s, here %s: the first label is kept)", data.ClassDirs[first.label], data.ClassDirs[c.label])
		}
		imp.rep.ContentDuplicates = append(imp.rep.ContentDuplicates, Duplicate{File: d.path, SameAs: first.source, Note: note})
		imp.prog.Duplicates++
		return nil
	}
	if other, taken := imp.names[c.key()]; taken {
		imp.bad(d.path, fmt.Sprintf("its dataset name %s is that of %s, imported before", c.key(), other))
		return nil
	}
	dir := filepath.Join(imp.dir, data.ClassDirs[c.label])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dataimport: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, c.file), d.npy, 0o644); err != nil {
		return fmt.Errorf("dataimport: %w", err)
	}
	imp.names[c.key()] = d.path
	imp.seen[d.sum] = len(imp.cuts)
	imp.cuts = append(imp.cuts, c)
	imp.prog.Imported++
	return nil
}

// bad lists a file that is not imported.
func (imp *importer) bad(file, reason string) {
	imp.rep.Bad = append(imp.rep.Bad, BadFile{File: file, Reason: reason})
	imp.prog.Bad++
}

func (imp *importer) tell() {
	if imp.opt.Progress != nil {
		imp.prog.Elapsed = time.Since(imp.start)
		imp.opt.Progress(imp.prog)
	}
}

// classOf finds a path's class: the label of its nearest folder called
// lenses or nonlenses and the path below that folder; without one, the
// cutout is unlabelled and the whole path is its name.
func classOf(p string) (label data.Label, rel string, labelled bool) {
	parts := strings.Split(p, "/")
	for i := len(parts) - 2; i >= 0; i-- {
		switch parts[i] {
		case layout.LensDir:
			return data.Lens, strings.Join(parts[i+1:], "/"), true
		case layout.NonLensDir:
			return data.NonLens, strings.Join(parts[i+1:], "/"), true
		}
	}
	return data.Unlabelled, p, false
}

// maxName bounds a canonical file name, in bytes.
const maxName = 200

// canonicalName is the dataset file name of a cutout at path rel below its
// class folder (or the source's top): its folders joined by "__", its
// extension .npy, characters other than letters, digits and ._+- replaced
// by _; a name over maxName bytes keeps its start and a hash of the whole.
// "tract 9813/J1000.fits.gz" -> "tract_9813__J1000.npy".
func canonicalName(rel string) string {
	stem := strings.TrimSuffix(rel, path.Ext(rel))
	if strings.EqualFold(path.Ext(rel), ".gz") {
		stem = strings.TrimSuffix(stem, path.Ext(stem))
	}
	stem = strings.ReplaceAll(stem, "/", "__")
	stem = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '+', r == '-':
			return r
		}
		return '_'
	}, stem)
	stem = strings.TrimLeft(stem, ".")
	if len(stem) > maxName-len(".npy") {
		sum := sha256.Sum256([]byte(rel))
		stem = stem[:maxName-len(".npy")-17] + "-" + hex.EncodeToString(sum[:8])
	}
	if stem == "" {
		stem = "unnamed"
	}
	return stem + ".npy"
}
