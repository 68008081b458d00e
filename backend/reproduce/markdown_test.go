package reproduce

import (
	"math"
	"slices"
	"testing"
)

func TestDuration(t *testing.T) {
	for s, want := range map[float64]string{9.46: "9.5 s", 65: "1 min 05 s", 3725: "1 h 02 min"} {
		if got := duration(s); got != want {
			t.Errorf("duration(%v) = %q, want %q", s, got, want)
		}
	}
}

// The reference's rows are found by label count, "all" being the full
// train split.
func TestReferenceRow(t *testing.T) {
	ref := reproReference(t)
	if got := referenceBackbones(ref); !slices.Equal(got, []string{"vit_small", "vit_base"}) {
		t.Errorf("backbones %v", got)
	}
	for _, tc := range []struct {
		method, backbone, label string
		labels                  int
		acc, auc                float64
	}{
		{"supervised", "vit_small", "300", 300, 0.897098, 0.9547},
		{"supervised", "vit_base", "all", 3863, 0.949868, 0.9843},
		{"ibot", "vit_small", "all", 3863, 0.956464, 0.9906},
	} {
		row, ok := referenceRow(ref, tc.method, tc.backbone, tc.label)
		if !ok || row.Labels != tc.labels || math.Abs(row.Accuracy-tc.acc) > 1e-12 || row.AUC != tc.auc {
			t.Errorf("%s %s %s: %+v, %v", tc.method, tc.backbone, tc.label, row, ok)
		}
	}
	if _, ok := referenceRow(ref, "dino", "vit_nano", "300"); ok {
		t.Error("a row of a backbone the reference lacks")
	}
}
