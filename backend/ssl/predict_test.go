package ssl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/ssl/ssltest"
)

// flatSet returns n 32 px images whose pixels all equal their band's
// value: lenses (odd i) bright in g, non-lenses dark.
func flatSet(t *testing.T, n int) *Set {
	t.Helper()
	s := NewSet(32)
	id := augment.Normalization{Std: [3]float32{1, 1, 1}}
	for i := range n {
		im := data.NewImage(3, 32, 32)
		g := float32(-1 - i%7)
		if i%2 == 1 {
			g = float32(1 + i%5)
		}
		for j := range im.Plane(0) {
			im.Plane(0)[j] = g
			im.Plane(1)[j] = float32(i % 3)
		}
		if err := s.Add("x", i%2, im, id); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestPredictAndFeaturesInChunks(t *testing.T) {
	ps := backbone(t, 2, 1)
	w := ps.Get("head.weight").Data
	clear(w)
	w[ps.Preset.Dim] = 1 // lens logit = g mean
	m, err := ssltest.NewLogReg(ps)
	if err != nil {
		t.Fatal(err)
	}
	s := flatSet(t, 2*chunk+3)
	var calls []int
	p, err := Predict(context.Background(), m, s, func(done, total int) { calls = append(calls, done, total) })
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != s.Len() || len(calls) != 6 || calls[4] != s.Len() || calls[5] != s.Len() || calls[0] != chunk {
		t.Fatalf("%d scores, progress %v", len(p), calls)
	}
	for i, v := range p {
		if (v > 0.5) != (s.Labels[i] == 1) {
			t.Fatalf("image %d (label %d): P(lens) %v", i, s.Labels[i], v)
		}
	}
	f, err := Features(context.Background(), m, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != s.Len() || len(f[0]) != ps.Preset.Dim || f[3][0] != s.Pix[3*s.stride()] {
		t.Errorf("features: %d of length %d, f[3][0] %v", len(f), len(f[0]), f[3][0])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Predict(ctx, m, s, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestEvaluateKNN(t *testing.T) {
	m, err := ssltest.NewLogReg(backbone(t, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	train, query := flatSet(t, 60), flatSet(t, 21)
	var last [2]int
	r, err := EvaluateKNN(context.Background(), m, train, query, eval.KNNK, eval.KNNTemperature, eval.Options{Threshold: 0.5},
		func(done, total int) { last = [2]int{done, total} })
	if err != nil {
		t.Fatal(err)
	}
	if r.AUC != 1 || r.Accuracy != 1 || r.N != 21 {
		t.Errorf("kNN on separable features: AUC %v accuracy %v n %d", r.AUC, r.Accuracy, r.N)
	}
	if last != [2]int{81, 81} {
		t.Errorf("last progress %v, want 81 of 81", last)
	}
}

func TestReadMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		n             int
		err           string
	}{
		{"whole", "{\"seq\":1,\"kind\":\"log\"}\n{\"seq\":2,\"kind\":\"step\",\"step\":1}\n", 2, ""},
		{"torn last line", "{\"seq\":1,\"kind\":\"log\"}\n{\"seq\":2,\"ki", 1, ""},
		{"bad middle line", "{\"seq\":1}\nnot json\n{\"seq\":3}\n", 0, "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), layout.MetricsFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			recs, err := layout.ReadMetrics(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(recs) != tc.n {
				t.Fatalf("%d records, err %v", len(recs), err)
			}
		})
	}
}
