package layout

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/atomicfile"
)

// Metadata is a dataset's metadata.csv: the true parameters of each
// simulated image, or what an imported cutout's file said of itself. The
// file's columns are file, class, split, kind, then Params in order, then
// the Text columns, then contaminants; a parameter without a value for an
// image (the source of a non-lens) is an empty cell.
type Metadata struct {
	Params []string // numeric columns, in file order
	// Decimals are the decimals a numeric column is written with; 4 when
	// absent.
	Decimals map[string]int
	Text     []string // text columns, each one of TextColumns
	Images   []ImageMeta
}

// TextColumns are the columns read as text rather than numbers: an
// imported cutout's source path, OBJECT name, content hash and where its
// position came from.
var TextColumns = []string{"source", "object", "sha256", "position_from"}

// ImageMeta is one row of metadata.csv.
type ImageMeta struct {
	File         string             // name inside the class folder
	Class        string             // LensDir or NonLensDir
	Split        string             // train, val or test
	Kind         string             // what the simulator drew, e.g. lens, spiral, ring
	Params       map[string]float64 // the numeric columns this image has a value for
	Text         map[string]string  // the text columns this image has a value for
	Contaminants []string           // field objects added to the stamp, e.g. star, neighbour
}

// metadataFixed are the leading text columns of metadata.csv; contaminants
// closes each row.
var metadataFixed = []string{"file", "class", "split", "kind"}

const contaminantsColumn = "contaminants"

// WriteMetadata writes m as the dataset's metadata.csv, atomically.
// Numbers are written with four decimals unless m.Decimals says otherwise.
func (d Dataset) WriteMetadata(m Metadata) error {
	return d.WriteMetadataRows(m, slices.Values(m.Images))
}

// WriteMetadataRows writes metadata.csv with the columns of m (whose
// Images it ignores) and the rows rows yields, streamed, atomically: the
// rows of a large import need not be held at once.
func (d Dataset) WriteMetadataRows(m Metadata, rows iter.Seq[ImageMeta]) error {
	err := atomicfile.Write(d.Path(MetadataCSV), func(out io.Writer) error {
		w := csv.NewWriter(out)
		w.Write(append(append(append(append([]string(nil), metadataFixed...), m.Params...), m.Text...), contaminantsColumn))
		row := make([]string, 0, len(metadataFixed)+len(m.Params)+len(m.Text)+1)
		for im := range rows {
			row = append(row[:0], im.File, im.Class, im.Split, im.Kind)
			for _, p := range m.Params {
				cell := ""
				if v, ok := im.Params[p]; ok {
					decimals, set := m.Decimals[p]
					if !set {
						decimals = 4
					}
					cell = strconv.FormatFloat(v, 'f', decimals, 64)
				}
				row = append(row, cell)
			}
			for _, c := range m.Text {
				row = append(row, im.Text[c])
			}
			if err := w.Write(append(row, strings.Join(im.Contaminants, ";"))); err != nil {
				return err
			}
		}
		w.Flush()
		return w.Error()
	})
	if err != nil {
		return fmt.Errorf("%s: %w", d.Path(MetadataCSV), err)
	}
	return nil
}

// ReadMetadata reads the dataset's metadata.csv. A missing file is an
// error satisfying errors.Is(err, fs.ErrNotExist) (real data has none).
// Only file and class are required columns; cells that are not numbers are
// skipped, so files written by other tools still read.
func (d Dataset) ReadMetadata() (Metadata, error) {
	path := d.Path(MetadataCSV)
	f, err := os.Open(path)
	if err != nil {
		return Metadata{}, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return Metadata{}, fmt.Errorf("%s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"file", "class"} {
		if _, ok := col[need]; !ok {
			return Metadata{}, fmt.Errorf("%s: no %q column", path, need)
		}
	}
	text := func(row []string, name string) string {
		if i, ok := col[name]; ok {
			return row[i]
		}
		return ""
	}
	var m Metadata
	numeric, isText := make([]bool, len(header)), make([]bool, len(header))
	for i, h := range header {
		switch {
		case slices.Contains(TextColumns, h):
			m.Text, isText[i] = append(m.Text, h), true
		case !slices.Contains(metadataFixed, h) && h != contaminantsColumn:
			m.Params, numeric[i] = append(m.Params, h), true
		}
	}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return Metadata{}, fmt.Errorf("%s: %w", path, err)
		}
		im := ImageMeta{File: text(row, "file"), Class: text(row, "class"), Split: text(row, "split"), Kind: text(row, "kind")}
		if c := text(row, contaminantsColumn); c != "" {
			im.Contaminants = strings.Split(c, ";")
		}
		for i, cell := range row {
			if isText[i] && cell != "" {
				if im.Text == nil {
					im.Text = map[string]string{}
				}
				im.Text[header[i]] = cell
			}
			if !numeric[i] || cell == "" {
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				continue
			}
			if im.Params == nil {
				im.Params = map[string]float64{}
			}
			im.Params[header[i]] = v
		}
		m.Images = append(m.Images, im)
	}
}
