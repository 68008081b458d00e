package uploads

import (
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/store"
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
var exportColumns = []struct {
	name, datatype, ucd, unit, desc string
}{
	{"id", "long", "meta.id", "", "upload id"},
	{"name", "char", "meta.id;meta.file", "", "file name as uploaded"},
	{"sha256", "char", "meta.checksum", "", "SHA-256 of the file"},
	{"format", "char", "meta.code.mime", "", "file format"},
	{"width", "int", "", "pix", "image width"},
	{"height", "int", "", "pix", "image height"},
	{"uploaded", "char", "time.creation", "", "upload time, ISO 8601 UTC"},
	{"user", "char", "meta.id", "", "who uploaded it"},
	{"lens_prob", "double", "stat.probability", "", "P(lens) by the checkpoint; empty when not scored"},
	{"checkpoint", "long", "meta.id", "", "checkpoint id that scored it"},
	{"band_warning", "char", "meta.note", "", "a band read in place of another as the uploader asked (z as i); empty for g, r, i"},
	{"object", "char", "meta.id", "", "the file's OBJECT keyword"},
	{"ra", "double", "pos.eq.ra;meta.main", "deg", "right ascension of the cutout's centre (ICRS); empty when the file gives none"},
	{"dec", "double", "pos.eq.dec;meta.main", "deg", "declination of the cutout's centre (ICRS)"},
	{"position", "char", "pos.eq", "", "the centre as hh:mm:ss.ss +dd:mm:ss.s"},
	{"position_from", "char", "meta.note", "", "where the position came from: WCS, RA/DEC or OBJRA/OBJDEC keywords"},
	{"my_grade", "char", "meta.code.class", "", "the exporter's grade: A, B, C or 0"},
	{"consensus", "char", "meta.code.class", "", "the graders' consensus class (from the mean grade, A = 3 ... 0 = 0); shown once the exporter has graded"},
	{"grade_mean", "double", "stat.mean", "", "mean grade on A = 3, B = 2, C = 1, 0 = 0"},
	{"graders", "int", "meta.number", "", "how many graded it"},
	{"grades", "char", "meta.note", "", "every grade: user:grade[:flags][: note], separated by ' | '"},
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
		header[i] = col.name
	}
	cw.Write(header)
	for _, u := range ups {
		row := exportRow(u)
		for i, col := range exportColumns {
			if col.datatype == "char" {
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

// VOTable 1.4 (IVOA Recommendation 2019-10-21) keeps the v1.3 namespace.
const votableNS = "http://www.ivoa.net/xml/VOTable/v1.3"

type votable struct {
	XMLName  xml.Name `xml:"VOTABLE"`
	Version  string   `xml:"version,attr"`
	NS       string   `xml:"xmlns,attr"`
	Resource struct {
		Name        string    `xml:"name,attr"`
		Description string    `xml:"DESCRIPTION"`
		Info        []votInfo `xml:"INFO"`
		Table       votTable  `xml:"TABLE"`
	} `xml:"RESOURCE"`
}

type votInfo struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type votTable struct {
	Name   string     `xml:"name,attr"`
	Fields []votField `xml:"FIELD"`
	Rows   []votRow   `xml:"DATA>TABLEDATA>TR"`
}

type votField struct {
	Name        string `xml:"name,attr"`
	Datatype    string `xml:"datatype,attr"`
	Arraysize   string `xml:"arraysize,attr,omitempty"`
	UCD         string `xml:"ucd,attr,omitempty"`
	Unit        string `xml:"unit,attr,omitempty"`
	Description string `xml:"DESCRIPTION,omitempty"`
}

type votRow struct {
	TD []string `xml:"TD"`
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
// described in an INFO element.
func writeVOTable(w io.Writer, ups []shared.Upload, meta ExportMeta) error {
	var v votable
	v.Version, v.NS = "1.4", votableNS
	v.Resource.Name = "sslens"
	v.Resource.Description = "Lens probabilities of uploaded cutouts, scored by an sslens classifier."
	v.Resource.Info = []votInfo{{"model", modelLine(meta.Checkpoint)}}
	if g := meta.Grading; g != nil {
		v.Resource.Info = append(v.Resource.Info, votInfo{"grading", GradingLine(*g)})
	}
	v.Resource.Table.Name = "scores"
	for _, col := range exportColumns {
		f := votField{Name: col.name, Datatype: col.datatype, UCD: col.ucd, Unit: col.unit, Description: col.desc}
		if col.datatype == "char" {
			f.Arraysize = "*"
		}
		v.Resource.Table.Fields = append(v.Resource.Table.Fields, f)
	}
	v.Resource.Table.Rows = []votRow{}
	for _, u := range ups {
		v.Resource.Table.Rows = append(v.Resource.Table.Rows, votRow{TD: exportRow(u)})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
