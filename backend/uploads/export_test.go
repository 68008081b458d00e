package uploads

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/backend/votable"
	"github.com/sslens/sslens/shared"
)

func TestExport(t *testing.T) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ups := []shared.Upload{
		{ID: 2, Name: "a,b.npy", SHA256: "ab", Format: "npy", Width: 40, Height: 40, Created: created, User: "ann",
			Score: &shared.Score{Checkpoint: 7, LensProb: 0.25}, BandWarning: "z as i"},
		{ID: 1, Name: "c.fits", Format: "fits", Created: created, User: "bob", Object: "SuGOHI J1000+0212",
			Position: &shared.Position{RA: 150.1163, Dec: 2.2058, Sexagesimal: "10:00:27.91 +02:12:20.9", From: "WCS"},
			MyGrade:  "B", Consensus: &shared.Consensus{Graders: 2, Mean: 2.5, Class: "A"},
			Grades: []shared.Grade{{User: "ann", Grade: "A", Flags: []string{"ring galaxy"}, Note: "=clear arc"}, {User: "bob", Grade: "B"}}},
	}
	ck := &store.Checkpoint{Checkpoint: shared.Checkpoint{ID: 7, Run: 3, RunName: "ft", Name: "best", Epoch: 9, Preset: "vit_nano",
		Metrics: map[string]float64{"val_auc": 0.9123}}}
	const model = `checkpoint 7, run 3 "ft" (vit_nano), best weights of epoch 9, validation AUC 0.9123`

	ex, err := ExportFormat("csv")
	if err != nil || ex.ContentType != "text/csv; charset=utf-8" || ex.Ext != ".csv" {
		t.Fatalf("csv format %+v, %v", ex, err)
	}
	if first, _, _ := strings.Cut(string(exported(t, "csv", ups, ck)), "\n"); first != "# sslens lens probabilities; model: "+model {
		t.Errorf("csv first line %q, want the model", first)
	}
	rows := exportCSV(t, ups, ck)
	want := [][]string{
		{"id", "name", "sha256", "format", "width", "height", "uploaded", "user", "lens_prob", "checkpoint", "band_warning", "object", "ra", "dec", "position", "position_from",
			"my_grade", "consensus", "grade_mean", "graders", "grades"},
		{"2", "a,b.npy", "ab", "npy", "40", "40", "2025-03-01T12:00:00Z", "ann", "0.25", "7", "z as i", "", "", "", "", "", "", "", "", "", ""},
		{"1", "c.fits", "", "fits", "0", "0", "2025-03-01T12:00:00Z", "bob", "", "", "", "SuGOHI J1000+0212", "150.1163000", "2.2058000", "10:00:27.91 +02:12:20.9", "WCS",
			"B", "A", "2.500", "2", "ann:A:ring galaxy: =clear arc | bob:B"},
	}
	if len(rows) != len(want) || strings.Join(rows[1], "|") != strings.Join(want[1], "|") ||
		strings.Join(rows[0], "|") != strings.Join(want[0], "|") || strings.Join(rows[2], "|") != strings.Join(want[2], "|") {
		t.Errorf("csv rows %q, want %q", rows, want)
	}

	if ex, err = ExportFormat("votable"); err != nil || ex.ContentType != "application/x-votable+xml" || ex.Ext != ".vot" {
		t.Fatalf("votable format %+v, %v", ex, err)
	}
	vt := exportVOTable(t, ups, ck)
	tb := vt.Resource.Table
	if vt.Version != "1.4" || vt.XMLName.Space != votable.Namespace || len(tb.Fields) != len(exportColumns) || len(tb.Rows) != 2 ||
		tb.Fields[1].Arraysize != "*" || tb.Fields[8].Datatype != "double" || tb.Rows[0].TD[8] != "0.25" {
		t.Errorf("votable %+v", vt)
	}
	if len(vt.Resource.Info) != 1 || vt.Resource.Info[0] != (votInfo{"model", model}) {
		t.Errorf("votable info %+v", vt.Resource.Info)
	}

	var ue *Error
	if _, err := ExportFormat("xlsx"); !errors.As(err, &ue) || ue.Kind != BadRequest || !strings.Contains(err.Error(), "want csv, votable or fits") {
		t.Errorf("xlsx: %v", err)
	}
}

// Names that a spreadsheet would run as formulas are exported as text in
// CSV (a leading quote, as OWASP advises) and escaped in VOTable.
func TestExportNeutralisesFormulas(t *testing.T) {
	names := []string{"=HYPERLINK(\"http://x\")", "+1.npy", "-2+3", "@SUM(A1)", "\tx.npy", "\rx.npy", "ok=1.npy", "<b>&.npy"}
	var ups []shared.Upload
	for i, n := range names {
		ups = append(ups, shared.Upload{ID: int64(i + 1), Name: n, User: "=cmd", Format: "npy"})
	}
	rows := exportCSV(t, ups, nil)
	for i, n := range names {
		want := "'" + n
		if i >= 6 {
			want = n
		}
		if r := rows[i+1]; r[1] != want || r[7] != "'=cmd" || r[0] != strconv.Itoa(i+1) {
			t.Errorf("row %d: %q, want name %q", i+1, r, want)
		}
	}
	vt := exportVOTable(t, ups, nil)
	for i, n := range names {
		if got := vt.Resource.Table.Rows[i].TD[1]; got != n {
			t.Errorf("votable row %d: %q, want %q", i+1, got, n)
		}
	}
}

// exported writes ups in an export format.
func exported(t *testing.T, format string, ups []shared.Upload, ck *store.Checkpoint) []byte {
	t.Helper()
	ex, err := ExportFormat(format)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ex.Write(&buf, ups, ExportMeta{Checkpoint: ck}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exportCSV returns the rows of the CSV export of ups, header first.
func exportCSV(t *testing.T, ups []shared.Upload, ck *store.Checkpoint) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(exported(t, "csv", ups, ck)))
	r.Comment = '#' // the model's line, as astropy and pandas skip it
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// votDoc is a VOTable document as the tests read it.
type votDoc struct {
	XMLName  xml.Name `xml:"VOTABLE"`
	Version  string   `xml:"version,attr"`
	Resource struct {
		Info  []votInfo `xml:"INFO"`
		Table struct {
			Fields []struct {
				Datatype  string `xml:"datatype,attr"`
				Arraysize string `xml:"arraysize,attr"`
			} `xml:"FIELD"`
			Rows []struct {
				TD []string `xml:"TD"`
			} `xml:"DATA>TABLEDATA>TR"`
		} `xml:"TABLE"`
	} `xml:"RESOURCE"`
}

type votInfo struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// exportVOTable returns the VOTable export of ups, decoded.
func exportVOTable(t *testing.T, ups []shared.Upload, ck *store.Checkpoint) votDoc {
	t.Helper()
	var vt votDoc
	if err := xml.Unmarshal(exported(t, "votable", ups, ck), &vt); err != nil {
		t.Fatal(err)
	}
	return vt
}
