package config

import (
	"os"
	"strings"
	"testing"
)

// The shipped reference results parse, with backbones as preset names;
// rows naming an unknown method or backbone are refused.
func TestParseReference(t *testing.T) {
	b, err := os.ReadFile("../../configs/reference/seed-results.json")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ParseReference(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Rows) != 32 || !strings.Contains(ref.Caveat, "optimistic") {
		t.Fatalf("%d rows, caveat %q", len(ref.Rows), ref.Caveat)
	}
	for _, r := range ref.Rows {
		if r.Backbone != "vit_small" && r.Backbone != "vit_base" {
			t.Errorf("row %+v: backbone not a preset name", r)
		}
	}
	const columns = `"columns": ["method", "backbone", "labels", "accuracy_percent", "auc"]`
	for _, tc := range []struct{ name, text, want string }{
		{"method", `{` + columns + `, "rows": [["byol", "ViT-S/8", 300, 90, 0.9]]}`, `rows[0]: method "byol" is not one of supervised, dino, ibot, simsiam`},
		{"backbone", `{` + columns + `, "rows": [["dino", "ViT-Q/8", 300, 90, 0.9]]}`, `rows[0]: vit: unknown preset "ViT-Q/8"`},
		{"shape", `{` + columns + `, "rows": [["dino", "ViT-S/8", 300]]}`, "rows[0]: 3 values"},
	} {
		if _, err := ParseReference([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
