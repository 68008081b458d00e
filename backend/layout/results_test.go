package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/shared"
)

// results.json as the first release wrote it still reads: the committed
// CPU preset's, which the portal serves.
func TestReadCommittedResults(t *testing.T) {
	res, err := ReadResults("../../web/results/cpu")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Methods) != 4 || res.Methods[1] != "dino" || len(res.Rows) != 16 || res.Rows[0].Method != "supervised" ||
		len(res.Rows[0].Seeds) == 0 || res.Rows[0].AUC.CI.Hi <= 0 || len(res.Comparisons) == 0 || res.Comparisons[0].Verdict == "" ||
		len(res.Plots) != 4 || res.Reference == nil || len(res.Reference.Rows) == 0 || res.Test.Images == 0 {
		t.Errorf("results %+v", res)
	}
}

func TestResultsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadResults(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no results.json: err = %v", err)
	}
	ci := &eval.Interval{Lo: 0.7, Hi: 0.9}
	res := &ReproduceResults{Name: "m", Test: shared.TestSplit{Images: 4, Lenses: 2, NonLenses: 2}, Methods: []string{"supervised", "dino"},
		Rows: []ResultRow{{Method: "dino", Backbone: "vit_nano", Labels: "300", AUC: shared.Spread{Mean: 0.8, CI: shared.Interval(*ci)},
			Seeds: []SeedResult{{Seed: 1, AUC: 0.8, AUCCI: ci, Config: []byte(`{"a":1}`)}}}},
		Comparisons: []Comparison{{Method: "dino", Verdict: shared.VerdictNotDistinguished, AUC: eval.Diff{Diff: 0.1, Level: 0.99}, Family: 5, SeedAUCDiffs: []float64{0.1, -0.02}}},
		Reference:   &ReferenceResults{Rows: []ReferenceRow{{Method: "dino", Backbone: "vit_small", Labels: 300, AUC: 0.9}}}}
	if err := WriteResults(dir, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	var cfg bytes.Buffer
	if err := json.Compact(&cfg, back.Rows[0].Seeds[0].Config); err != nil {
		t.Fatal(err)
	}
	seed := back.Rows[0].Seeds[0]
	if !slices.Equal(back.Methods, res.Methods) || back.Test != res.Test || back.Rows[0].AUC != res.Rows[0].AUC ||
		seed.AUCCI == nil || *seed.AUCCI != *ci || cfg.String() != `{"a":1}` || !reflect.DeepEqual(back.Comparisons[0], res.Comparisons[0]) ||
		back.Reference == nil || back.Reference.Rows[0] != res.Reference.Rows[0] {
		t.Errorf("read back %+v\nwrote %+v", back, res)
	}
}

func TestDecodeReference(t *testing.T) {
	const columns = `"columns": ["method", "backbone", "labels", "accuracy_percent", "auc"]`
	ref, err := DecodeReference([]byte(`{"source": "s", "caveat": "c", ` + columns + `, "rows": [["dino", "ViT-S/8", 300, 90, 0.9]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (ReferenceRow{Method: "dino", Backbone: "ViT-S/8", Labels: 300, Accuracy: 0.9, AUC: 0.9}); len(ref.Rows) != 1 || ref.Rows[0] != want || ref.Source != "s" {
		t.Errorf("decoded %+v", ref)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"json", `{`, "reference results: "},
		{"columns", `{"columns": ["method", "labels"], "rows": []}`, "columns"},
		{"short row", `{` + columns + `, "rows": [["dino", "ViT-S/8", 300]]}`, "rows[0]: 3 values, want 5"},
		{"labels", `{` + columns + `, "rows": [["dino", "ViT-S/8", "x", 90, 0.9]]}`, "rows[0]: "},
		{"fractional labels", `{` + columns + `, "rows": [["dino", "ViT-S/8", 300.5, 90, 0.9]]}`, "want [method, backbone, integer labels"},
	} {
		if _, err := DecodeReference([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
