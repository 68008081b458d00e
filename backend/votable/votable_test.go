package votable

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/table.vot (then run testdata/read_votable.py)")

// sample is a table with what escaping and nulls must survive.
var sample = Table{
	Resource: "sslens", Description: `Lens probabilities & "ranks" <of cutouts>`,
	Info: []Info{{"model", "run 3 \"sup\" best, validation AUC 0.9"}}, Name: "scores",
	Fields: []Field{
		{Name: "rank", Datatype: "long", UCD: "meta.number", Desc: "rank by P(lens), 1 the highest"},
		{Name: "file", Datatype: "unicodeChar", UCD: "meta.id;meta.file"},
		{Name: "survey", Datatype: "char"},
		{Name: "lens_prob", Datatype: "double", UCD: "stat.probability", Desc: "P(lens)"},
		{Name: "ra", Datatype: "double", Unit: "deg", UCD: "pos.eq.ra;meta.main", Desc: "right ascension (ICRS)"},
	},
}

var sampleRows = [][]string{
	{"1", "hsc/<b>&amp;.npy", "hsc", "0.97", "150.1163"},
	{"2", `a "quoted", 'name'.fits`, "", "0.5", ""},
	{"3", "ünïcode ☉.npy", "des", "0.125", "-0.5"},
}

func write(t *testing.T, tab Table, rows [][]string) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	err := tab.Write(&buf, func(yield func([]string) error) error {
		for _, r := range rows {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	})
	return buf.Bytes(), err
}

// The document is what astropy reads back: testdata/table.vot is this
// writer's output (the test fails when it changes; -update rewrites it),
// and testdata/table.astropy.json what astropy.io.votable's parser made of
// it, with its pedantic checks on (testdata/read_votable.py).
func TestAstropyReadsIt(t *testing.T) {
	got, err := write(t, sample, sampleRows)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.vot")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the document differs from %s (%v): rewrite it with -update and run read_votable.py", golden, err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "table.astropy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seen struct {
		Description string              `json:"description"`
		Info        map[string]string   `json:"info"`
		Fields      []map[string]string `json:"fields"`
		Rows        [][]any             `json:"rows"`
		Warnings    []string            `json:"warnings"`
	}
	if err := json.Unmarshal(b, &seen); err != nil {
		t.Fatal(err)
	}
	if len(seen.Warnings) > 0 || seen.Description != sample.Description || seen.Info["model"] != sample.Info[0].Value {
		t.Errorf("astropy saw %+v", seen)
	}
	for i, f := range sample.Fields {
		s := seen.Fields[i]
		if s["name"] != f.Name || s["datatype"] != f.Datatype || s["ucd"] != f.UCD || s["unit"] != f.Unit || s["description"] != f.Desc {
			t.Errorf("field %d: astropy saw %v, written %+v", i, s, f)
		}
	}
	if len(seen.Rows) != len(sampleRows) {
		t.Fatalf("astropy read %d rows, want %d", len(seen.Rows), len(sampleRows))
	}
	for i, r := range sampleRows {
		s := seen.Rows[i]
		if s[0] != float64(i+1) || s[1] != r[1] || s[2] != r[2] || s[3] != mustFloat(r[3]) || (r[4] == "" && s[4] != nil) || (r[4] != "" && s[4] != mustFloat(r[4])) {
			t.Errorf("row %d: astropy read %v, written %q", i+1, s, r)
		}
	}
}

func mustFloat(s string) any {
	var v float64
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}

// A row of the wrong width is an error naming it, not a broken document.
func TestRowWidth(t *testing.T) {
	_, err := write(t, sample, [][]string{sampleRows[0], {"2", "x"}})
	if err == nil || !strings.Contains(err.Error(), "row 2 has 2 cells for 5 fields") {
		t.Errorf("a short row: %v", err)
	}
}
