package layout

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/atomicfile"
)

// Metadata is a dataset's metadata.csv: the true parameters of each
// simulated image. The file's columns are file, class, split, kind, then
// Params in order, then contaminants; a parameter without a value for an
// image (the source of a non-lens) is an empty cell.
type Metadata struct {
	Params []string // numeric columns, in file order
	Images []ImageMeta
}

// ImageMeta is one row of metadata.csv.
type ImageMeta struct {
	File         string             // name inside the class folder
	Class        string             // LensDir or NonLensDir
	Split        string             // train, val or test
	Kind         string             // what the simulator drew, e.g. lens, spiral, ring
	Params       map[string]float64 // the numeric columns this image has a value for
	Contaminants []string           // field objects added to the stamp, e.g. star, neighbour
}

// metadataFixed are the leading text columns of metadata.csv; contaminants
// closes each row.
var metadataFixed = []string{"file", "class", "split", "kind"}

const contaminantsColumn = "contaminants"

// WriteMetadata writes m as the dataset's metadata.csv, atomically.
// Numbers are written with four decimals.
func (d Dataset) WriteMetadata(m Metadata) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(append(append(append([]string(nil), metadataFixed...), m.Params...), contaminantsColumn))
	for _, im := range m.Images {
		row := []string{im.File, im.Class, im.Split, im.Kind}
		for _, p := range m.Params {
			cell := ""
			if v, ok := im.Params[p]; ok {
				cell = strconv.FormatFloat(v, 'f', 4, 64)
			}
			row = append(row, cell)
		}
		w.Write(append(row, strings.Join(im.Contaminants, ";")))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("%s: %w", d.Path(MetadataCSV), err)
	}
	return atomicfile.WriteBytes(d.Path(MetadataCSV), buf.Bytes())
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
	numeric := make([]bool, len(header))
	for i, h := range header {
		if !slices.Contains(metadataFixed, h) && h != contaminantsColumn {
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
