package dataimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
)

// Report is what an import did, written beside the dataset as
// import-report.json (everything) and import-report.txt (for reading:
// counts and the first reportShown of each list).
type Report struct {
	Source    string `json:"source"`
	Labelled  bool   `json:"labelled"`
	Files     int    `json:"files"` // cutout and splits files read from the source
	Imported  int    `json:"imported"`
	Lenses    int    `json:"lenses"`
	NonLenses int    `json:"nonlenses"`
	// Unlabelled cutouts, in an import without lenses/ and nonlenses/.
	Unlabelled int       `json:"unlabelled"`
	Bad        []BadFile `json:"bad"`
	// ContentDuplicates are files whose pixels are those of a file
	// imported before; they are not imported.
	ContentDuplicates []Duplicate `json:"content_duplicates"`
	// Positioned counts the cutouts whose file gave a sky position.
	Positioned int `json:"positioned"`
	// SameObject are the pairs of cutouts closer than the same-object
	// radius: both are imported, in one split.
	SameObject []Pair `json:"same_object"`
	// Groups counts the sets of two or more cutouts linked by separations
	// below the group radius, Grouped the cutouts in them; each set lies in
	// one split (when the splits are drawn).
	Groups  int `json:"groups"`
	Grouped int `json:"grouped"`
	// SplitsFrom is "drawn", or the source's splits file.
	SplitsFrom string `json:"splits_from"`
	// With a source's splits file: names it lists that were not imported
	// (bad or duplicate files), imported cutouts it does not list (in no
	// split, used for nothing), and groups of neighbours it puts in more
	// than one split (not changed, but a leak between them).
	ListedNotImported int                      `json:"listed_not_imported,omitempty"`
	InNoSplit         int                      `json:"in_no_split,omitempty"`
	Straddling        int                      `json:"straddling_groups,omitempty"`
	Splits            map[data.SplitName]Count `json:"splits"`
	// Provenance is provenance.json when the source had one at its top
	// (a graded set's rule and grades), copied into the dataset.
	Provenance string `json:"provenance,omitempty"`
	// Stats are the normalisation statistics of the train split's centre
	// crops, what training normalises with.
	Stats   data.Stats `json:"stats"`
	Seconds float64    `json:"seconds"`
}

// BadFile is a file that was not imported, and why.
type BadFile struct {
	File   string `json:"file"` // source-relative
	Reason string `json:"reason"`
}

// Duplicate is a file with the pixels of one imported before.
type Duplicate struct {
	File   string `json:"file"`
	SameAs string `json:"same_as"`
	Note   string `json:"note,omitempty"`
}

// Pair is two imported cutouts (dataset names) and their separation.
type Pair struct {
	A      string  `json:"a"`
	B      string  `json:"b"`
	Arcsec float64 `json:"arcsec"`
}

// Count counts a split's cutouts by class.
type Count struct {
	Lenses     int `json:"lenses"`
	NonLenses  int `json:"nonlenses"`
	Unlabelled int `json:"unlabelled"`
}

// reportShown is how many entries of each list the text report shows.
const reportShown = 20

// FilesPerSecond is the import's rate over the files read.
func (r *Report) FilesPerSecond() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Files) / r.Seconds
}

// write writes import-report.json and import-report.txt into dir.
func (r *Report) write(dir string) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, layout.ImportReportJSON), append(b, '\n')); err != nil {
		return fmt.Errorf("dataimport: %w", err)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	if err := atomicfile.WriteBytes(filepath.Join(dir, layout.ImportReportText), text.Bytes()); err != nil {
		return fmt.Errorf("dataimport: %w", err)
	}
	return nil
}

// WriteText writes the report for reading.
func (r *Report) WriteText(w io.Writer) {
	kind := "unlabelled"
	if r.Labelled {
		kind = "labelled"
	}
	fmt.Fprintf(w, "import of %s (%s)\n", r.Source, kind)
	fmt.Fprintf(w, "%d files read in %.1f s (%.0f files/s): %d imported (%d lenses, %d non-lenses, %d unlabelled), %d bad, %d duplicates by content\n",
		r.Files, r.Seconds, r.FilesPerSecond(), r.Imported, r.Lenses, r.NonLenses, r.Unlabelled, len(r.Bad), len(r.ContentDuplicates))
	list(w, "bad files (not imported)", r.Bad, func(b BadFile) string { return b.File + ": " + b.Reason })
	list(w, "duplicates by content (not imported)", r.ContentDuplicates, func(d Duplicate) string {
		return d.File + ": the pixels of " + d.SameAs + d.Note
	})
	fmt.Fprintf(w, "%d of %d cutouts have a sky position\n", r.Positioned, r.Imported)
	list(w, "pairs closer than the same-object radius (both imported, in one split)", r.SameObject, func(p Pair) string {
		return fmt.Sprintf("%s and %s, %.2f\"", p.A, p.B, p.Arcsec)
	})
	fmt.Fprintf(w, "%d groups of neighbours (%d cutouts) kept within one split each\n", r.Groups, r.Grouped)
	fmt.Fprintf(w, "splits: %s\n", r.SplitsFrom)
	if r.ListedNotImported+r.InNoSplit+r.Straddling > 0 {
		fmt.Fprintf(w, "  %d listed but not imported, %d imported but in no split, %d groups of neighbours in more than one split\n",
			r.ListedNotImported, r.InNoSplit, r.Straddling)
	}
	for _, name := range data.SplitNames {
		c := r.Splits[name]
		fmt.Fprintf(w, "  %-5s %6d lenses %6d non-lenses %6d unlabelled\n", name, c.Lenses, c.NonLenses, c.Unlabelled)
	}
	s := r.Stats
	fmt.Fprintf(w, "normalisation (train, %d px centre crops, %d cutouts): mean %.4g %.4g %.4g, std %.4g %.4g %.4g (g, r, i)\n",
		s.Crop, s.Count, s.Mean[0], s.Mean[1], s.Mean[2], s.Std[0], s.Std[1], s.Std[2])
}

// list writes a heading with the length of items and the first
// reportShown of them.
func list[T any](w io.Writer, heading string, items []T, line func(T) string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(w, "%d %s:\n", len(items), heading)
	for i, it := range items {
		if i == reportShown {
			fmt.Fprintf(w, "  ... and %d more (import-report.json lists them all)\n", len(items)-reportShown)
			break
		}
		fmt.Fprintf(w, "  %s\n", line(it))
	}
}
