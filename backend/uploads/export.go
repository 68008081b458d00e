package uploads

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/fitstable"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/backend/votable"
	"github.com/sslens/sslens/shared"
)

// Export is a format scores are exported in.
type Export struct {
	ContentType string
	Ext         string // file name extension, with the dot
	// Write writes the uploads' rows, and meta in the file's header.
	Write func(w io.Writer, ups []shared.Upload, meta ExportMeta) error
}

// ExportMeta is what an export's header says of its rows.
type ExportMeta struct {
	Checkpoint *store.Checkpoint      // that scored them; nil when none did
	Grading    *shared.GradingSummary // the ranking against the grades; nil to leave out
}

// ExportFormat returns the export format called name: csv, votable or
// fits (a binary table).
func ExportFormat(name string) (Export, error) {
	switch name {
	case "csv":
		return Export{ContentType: "text/csv; charset=utf-8", Ext: ".csv", Write: writeCSV}, nil
	case "votable":
		return Export{ContentType: "application/x-votable+xml", Ext: ".vot", Write: writeVOTable}, nil
	case "fits":
		return Export{ContentType: "application/fits", Ext: ".fits", Write: writeFITSTable}, nil
	}
	return Export{}, errorf(BadRequest, "format=%q: want csv, votable or fits", name)
}

// exportColumns are the columns of every export format.
var exportColumns = []fitstable.Column{
	{Name: "id", Type: fitstable.Long, UCD: "meta.id", Desc: "upload id"},
	{Name: "name", Type: fitstable.Char, UCD: "meta.id;meta.file", Desc: "file name as uploaded"},
	{Name: "sha256", Type: fitstable.Char, UCD: "meta.checksum", Desc: "SHA-256 of the file"},
	{Name: "format", Type: fitstable.Char, UCD: "meta.code.mime", Desc: "file format"},
	{Name: "width", Type: fitstable.Int, Unit: "pix", Desc: "image width"},
	{Name: "height", Type: fitstable.Int, Unit: "pix", Desc: "image height"},
	{Name: "uploaded", Type: fitstable.Char, UCD: "time.creation", Desc: "upload time, ISO 8601 UTC"},
	{Name: "user", Type: fitstable.Char, UCD: "meta.id", Desc: "who uploaded it"},
	{Name: "lens_prob", Type: fitstable.Double, UCD: "stat.probability", Desc: "P(lens) by the checkpoint; empty when not scored"},
	{Name: "checkpoint", Type: fitstable.Long, UCD: "meta.id", Desc: "checkpoint id that scored it"},
	{Name: "band_warning", Type: fitstable.Char, UCD: "meta.note", Desc: "a band read in place of another as the uploader asked (z as i); empty for g, r, i"},
	{Name: "object", Type: fitstable.Char, UCD: "meta.id", Desc: "the file's OBJECT keyword"},
	{Name: "ra", Type: fitstable.Double, UCD: "pos.eq.ra;meta.main", Unit: "deg", Desc: "right ascension of the cutout's centre (ICRS); empty when the file gives none"},
	{Name: "dec", Type: fitstable.Double, UCD: "pos.eq.dec;meta.main", Unit: "deg", Desc: "declination of the cutout's centre (ICRS)"},
	{Name: "position", Type: fitstable.Char, UCD: "pos.eq", Desc: "the centre as hh:mm:ss.ss +dd:mm:ss.s"},
	{Name: "position_from", Type: fitstable.Char, UCD: "meta.note", Desc: "where the position came from: WCS, RA/DEC or OBJRA/OBJDEC keywords"},
	{Name: "my_grade", Type: fitstable.Char, UCD: "meta.code.class", Desc: "the exporter's grade: A, B, C or 0"},
	{Name: "consensus", Type: fitstable.Char, UCD: "meta.code.class", Desc: "the graders' consensus class (from the mean grade, A = 3 ... 0 = 0); shown once the exporter has graded"},
	{Name: "grade_mean", Type: fitstable.Double, UCD: "stat.mean", Desc: "mean grade on A = 3, B = 2, C = 1, 0 = 0"},
	{Name: "graders", Type: fitstable.Int, UCD: "meta.number", Desc: "how many graded it"},
	{Name: "grades", Type: fitstable.Char, UCD: "meta.note", Desc: "every grade: user:grade[:flags][: note], separated by ' | '"},
}

func exportRow(u shared.Upload) []string {
	prob, ck := "", ""
	if u.Score != nil {
		prob, ck = strconv.FormatFloat(u.Score.LensProb, 'g', -1, 64), strconv.FormatInt(u.Score.Checkpoint, 10)
	}
	ra, dec, pos, from := "", "", "", ""
	if p := u.Position; p != nil {
		ra, dec, pos, from = strconv.FormatFloat(p.RA, 'f', 7, 64), strconv.FormatFloat(p.Dec, 'f', 7, 64), p.Sexagesimal, p.From
	}
	class, mean, graders := "", "", ""
	if c := u.Consensus; c != nil {
		class, mean, graders = c.Class, strconv.FormatFloat(c.Mean, 'f', 3, 64), strconv.Itoa(c.Graders)
	}
	grades := make([]string, len(u.Grades))
	for i, g := range u.Grades {
		grades[i] = g.User + ":" + g.Grade
		if len(g.Flags) > 0 {
			grades[i] += ":" + strings.Join(g.Flags, ",")
		}
		if g.Note != "" {
			grades[i] += ": " + g.Note
		}
	}
	return []string{strconv.FormatInt(u.ID, 10), u.Name, u.SHA256, u.Format, strconv.Itoa(u.Width), strconv.Itoa(u.Height),
		u.Created.Format(time.RFC3339), u.User, prob, ck, u.BandWarning, u.Object, ra, dec, pos, from, u.MyGrade, class, mean, graders,
		strings.Join(grades, " | ")}
}

// writeCSV writes comment lines naming the model ("# " first, as astropy's
// and pandas' readers skip with comment="#"), a header of the column names,
// then a row per upload, text cells neutralised. (VOTable needs no such
// care: it is XML, which the encoder escapes.)
func writeCSV(w io.Writer, ups []shared.Upload, meta ExportMeta) error {
	if _, err := fmt.Fprintf(w, "# sslens lens probabilities; model: %s\n", modelLine(meta.Checkpoint)); err != nil {
		return err
	}
	if g := meta.Grading; g != nil {
		if _, err := fmt.Fprintf(w, "# grading: %s\n", GradingLine(*g)); err != nil {
			return err
		}
	}
	cw := csv.NewWriter(w)
	header := make([]string, len(exportColumns))
	for i, col := range exportColumns {
		header[i] = col.Name
	}
	cw.Write(header)
	for _, u := range ups {
		row := exportRow(u)
		for i, col := range exportColumns {
			if col.Type == fitstable.Char {
				row[i] = neutralise(row[i])
			}
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// neutralise keeps a text cell from being read as a formula by a
// spreadsheet: one starting with = + - @, a tab or a carriage return gets
// a leading single quote (OWASP, CSV injection).
func neutralise(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// modelLine names the checkpoint that scored an export, with its
// validation metrics; strings from runs are neutralised for spreadsheets.
func modelLine(ck *store.Checkpoint) string {
	if ck == nil {
		return "none (no classifier is trained; the files are not scored)"
	}
	line := fmt.Sprintf("checkpoint %d, run %d %q (%s), %s weights of epoch %d", ck.ID, ck.Run, neutralise(ck.RunName), ck.Preset, ck.Name, ck.Epoch)
	if auc, ok := ck.Metrics["val_auc"]; ok {
		line += fmt.Sprintf(", validation AUC %.4f", auc)
	}
	return line
}

// writeVOTable writes one table of the export columns, the checkpoint
// and the grading described in INFO elements.
func writeVOTable(w io.Writer, ups []shared.Upload, meta ExportMeta) error {
	t := votable.Table{Resource: "sslens", Description: "Lens probabilities of uploaded cutouts, scored by an sslens classifier.",
		Info: []votable.Info{{Name: "model", Value: modelLine(meta.Checkpoint)}}, Name: "scores", Fields: votable.Fields(exportColumns)}
	if g := meta.Grading; g != nil {
		t.Info = append(t.Info, votable.Info{Name: "grading", Value: GradingLine(*g)})
	}
	return t.Write(w, func(yield func([]string) error) error {
		for _, u := range ups {
			if err := yield(exportRow(u)); err != nil {
				return err
			}
		}
		return nil
	})
}
