package uploads

import (
	"io"
	"slices"

	"github.com/sslens/sslens/backend/fitstable"
	"github.com/sslens/sslens/shared"
)

// writeFITSTable writes the export as a FITS binary table: an empty
// primary HDU whose COMMENT cards name the model and the grading, then the
// extension "SCORES" of the export columns. Numbers missing from a row are
// NaN (doubles) or fitstable.Null (integers); text is ASCII padded with
// NULs to the longest cell of its column.
func writeFITSTable(w io.Writer, ups []shared.Upload, meta ExportMeta) error {
	rows := make([][]string, len(ups))
	for i, u := range ups {
		rows[i] = exportRow(u)
	}
	cols := slices.Clone(exportColumns)
	for j, c := range cols {
		if c.Type == fitstable.Char {
			for _, r := range rows {
				cols[j].Width = max(cols[j].Width, len(fitstable.ASCII(r[j])))
			}
		}
	}
	comments := []string{"sslens lens probabilities; model: " + modelLine(meta.Checkpoint)}
	if g := meta.Grading; g != nil {
		comments = append(comments, "grading: "+GradingLine(*g))
	}
	t := fitstable.Table{Name: "SCORES", Comments: comments, Rows: len(rows), RowNote: "one per upload", Columns: cols}
	return t.Write(w, func(yield func([]string) error) error {
		for _, r := range rows {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	})
}
