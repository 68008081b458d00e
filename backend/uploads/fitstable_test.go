package uploads

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/fitstable"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

var update = flag.Bool("update", false, "rewrite testdata/export.fits (then run testdata/read_export.py)")

// fitsExportUploads are the rows of the FITS export fixture: an unscored
// file, a scored and graded one with a position, and names with a comma,
// a quote and non-ASCII letters.
func fitsExportUploads() ([]shared.Upload, ExportMeta) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ups := []shared.Upload{
		{ID: 2, Name: "a,b.npy", SHA256: "ab", Format: "npy", Width: 40, Height: 40, Created: created, User: "ann"},
		{ID: 1, Name: "c'1.fits", Format: "fits", Width: 64, Height: 64, Created: created, User: "bob", Object: "SuGOHI J1000+0212",
			Score:    &shared.Score{Checkpoint: 7, LensProb: 0.8125},
			Position: &shared.Position{RA: 150.1163, Dec: 2.2058, Sexagesimal: "10:00:27.91 +02:12:20.9", From: "WCS"},
			MyGrade:  "B", Consensus: &shared.Consensus{Graders: 2, Mean: 2.5, Class: "A"},
			Grades: []shared.Grade{{User: "ann", Grade: "A", Flags: []string{"ring galaxy"}, Note: "clear arc"}, {User: "bob", Grade: "B"}}},
		{ID: 3, Name: "lentille-ébauche.png", Format: "png", Width: 32, Height: 32, Created: created, User: "chloé",
			Score: &shared.Score{Checkpoint: 7, LensProb: 1e-6}, BandWarning: "z as i"},
	}
	ck := &store.Checkpoint{Checkpoint: shared.Checkpoint{ID: 7, Run: 3, RunName: "ft", Name: "best", Epoch: 9, Preset: "vit_nano",
		Metrics: map[string]float64{"val_auc": 0.9123}}}
	return ups, ExportMeta{Checkpoint: ck, Grading: &shared.GradingSummary{Candidates: 3, Graded: 1, Purity: []shared.PurityAtN{{N: 10, Graded: 1, Lenses: 1}}}}
}

// The FITS export is what astropy reads back: testdata/export.fits is this
// writer's output for fitsExportUploads (the test checks it still is), and
// testdata/export.astropy.json what astropy's fits and Table readers made
// of that file (read_export.py), compared here with the rows.
func TestFITSExport(t *testing.T) {
	ups, meta := fitsExportUploads()
	ex, err := ExportFormat("fits")
	if err != nil || ex.ContentType != "application/fits" || ex.Ext != ".fits" {
		t.Fatalf("fits format %+v, %v", ex, err)
	}
	var buf bytes.Buffer
	if err := ex.Write(&buf, ups, meta); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "export.fits")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote", golden, "; now run python3 backend/uploads/testdata/read_export.py")
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("the export differs from %s, which astropy was checked on (rerun with -update and read_export.py)", golden)
	}
	if buf.Len()%2880 != 0 {
		t.Errorf("%d bytes: not whole 2880-byte blocks", buf.Len())
	}

	b, err := os.ReadFile(filepath.Join("testdata", "export.astropy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Comments []string
		Extname  string
		Columns  []struct{ Name, Format, Unit, UCD, Description string }
		Rows     [][]any
		Warnings []string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Warnings) > 0 || got.Extname != "SCORES" {
		t.Errorf("astropy: extension %q, warnings %q", got.Extname, got.Warnings)
	}
	comments := strings.Join(got.Comments, "") // astropy drops a card's trailing space; the cards break after one
	comments = strings.Join(got.Comments, " ")
	for _, w := range []string{"model: " + modelLine(meta.Checkpoint), "grading: " + GradingLine(*meta.Grading)} {
		if !strings.Contains(comments, w) {
			t.Errorf("primary header comments %q lack %q", comments, w)
		}
	}
	if len(got.Columns) != len(exportColumns) {
		t.Fatalf("astropy read %d columns, want %d", len(got.Columns), len(exportColumns))
	}
	for j, c := range exportColumns {
		g := got.Columns[j]
		desc := strings.ReplaceAll(c.Desc, "'", "''") // as the card holds it: quotes doubled, 66 characters
		if len(desc) > 66 {
			desc = desc[:66]
		}
		desc = strings.TrimRight(strings.ReplaceAll(desc, "''", "'"), " ") // trailing spaces are not significant
		if g.Name != c.Name || g.Unit != c.Unit || g.UCD != c.UCD || g.Description != desc {
			t.Errorf("column %d: astropy read %+v, want %s [%s] %s %q", j+1, g, c.Name, c.Unit, c.UCD, desc)
		}
	}
	if len(got.Rows) != len(ups) {
		t.Fatalf("astropy read %d rows, want %d", len(got.Rows), len(ups))
	}
	for i, u := range ups {
		row := exportRow(u)
		for j, c := range exportColumns {
			g := got.Rows[i][j]
			switch {
			case row[j] == "": // astropy masks empty text, NaN and TNULL alike
				if g != nil {
					t.Errorf("row %d %s: astropy read %v, want null", i, c.Name, g)
				}
			case c.Type == "char":
				if want := fitstable.ASCII(row[j]); g != want {
					t.Errorf("row %d %s: astropy read %q, want %q", i, c.Name, g, want)
				}
			default:
				want, _ := strconv.ParseFloat(row[j], 64)
				if f, ok := g.(float64); !ok || math.Abs(f-want) > 1e-12*math.Abs(want) {
					t.Errorf("row %d %s: astropy read %v, want %v", i, c.Name, g, want)
				}
			}
		}
	}
}
