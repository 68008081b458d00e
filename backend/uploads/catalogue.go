package uploads

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/sky"
)

// A catalogue is a CSV file uploaded beside cutouts that carry no position
// of their own (npy, PNG): a header naming the columns name, ra and dec
// (any order and case; an object column is optional, others are ignored),
// then one row per file. name is the file's name as uploaded (its base
// name); ra and dec are degrees, or sexagesimal with RA in hours
// ("10:00:27.9", "+02:12:21"). A file's own position (a FITS WCS) wins
// over its row. A row that cannot be read is reported, the others used.

// maxCatalogueRows bounds the rows of one catalogue.
const maxCatalogueRows = 100000

// catalogue is one uploaded catalogue's rows by file name.
type catalogue struct {
	name     string
	rows     map[string]data.Meta
	problems []string // "row N: ..." for rows that could not be read
}

// isCatalogue reports whether a part is a catalogue, by its name.
func isCatalogue(name string) bool { return strings.EqualFold(path.Ext(name), ".csv") }

// parseCatalogue reads a catalogue; an error means none of it is usable.
func parseCatalogue(name string, body []byte) (catalogue, error) {
	cat := catalogue{name: name, rows: map[string]data.Meta{}}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord, r.Comment = -1, '#'
	header, err := r.Read()
	if err != nil {
		return cat, fmt.Errorf("not a CSV catalogue: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"name", "ra", "dec"} {
		if _, ok := col[need]; !ok {
			return cat, fmt.Errorf("the header has no %q column (want name, ra and dec; found %s)", need, strings.Join(header, ", "))
		}
	}
	object, hasObject := col["object"]
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if len(cat.rows)+len(cat.problems) >= maxCatalogueRows {
			return cat, fmt.Errorf("more than %d rows", maxCatalogueRows)
		}
		if err != nil {
			cat.problems = append(cat.problems, fmt.Sprintf("row %d: %v", line, err))
			continue
		}
		cell := func(i int) string {
			if i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		file := path.Base(strings.ReplaceAll(cell(col["name"]), `\`, "/"))
		ra, errRA := angleCell(cell(col["ra"]), 15)
		dec, errDec := angleCell(cell(col["dec"]), 1)
		p := sky.Position{RA: ra, Dec: dec}
		switch {
		case file == "" || file == ".":
			cat.problems = append(cat.problems, fmt.Sprintf("row %d: no file name", line))
		case errRA != nil:
			cat.problems = append(cat.problems, fmt.Sprintf("row %d (%s): ra %q: %v", line, file, cell(col["ra"]), errRA))
		case errDec != nil:
			cat.problems = append(cat.problems, fmt.Sprintf("row %d (%s): dec %q: %v", line, file, cell(col["dec"]), errDec))
		case !p.Valid():
			cat.problems = append(cat.problems, fmt.Sprintf("row %d (%s): ra %g, dec %g is not a sky position (ra in [0, 360), dec in [-90, 90] degrees)", line, file, ra, dec))
		default:
			if _, dup := cat.rows[file]; dup {
				cat.problems = append(cat.problems, fmt.Sprintf("row %d (%s): the file is listed twice; the first row is used", line, file))
				continue
			}
			m := data.Meta{Position: &p, PositionFrom: sky.Source("catalogue " + name)}
			if hasObject {
				m.Object = cell(object)
			}
			cat.rows[file] = m
		}
	}
	if len(cat.rows) == 0 && len(cat.problems) == 0 {
		return cat, errors.New("the catalogue has no rows")
	}
	return cat, nil
}

// angleCell reads degrees, or sexagesimal whose first field is in units
// of unit degrees.
func angleCell(s string, unit float64) (float64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		return x, nil
	}
	return sky.ParseSexagesimal(s, unit)
}

// summary describes the catalogue for the upload's answer.
func (c catalogue) summary() string {
	msg := fmt.Sprintf("catalogue of %d positions", len(c.rows))
	if n := len(c.problems); n > 0 {
		const shown = 5
		list := c.problems[:min(n, shown)]
		msg += fmt.Sprintf("; %d rows refused: %s", n, strings.Join(list, "; "))
		if n > shown {
			msg += fmt.Sprintf("; and %d more", n-shown)
		}
	}
	return msg
}
