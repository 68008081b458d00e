package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestAUCMatchesPairwiseCount(t *testing.T) {
	for _, tc := range []struct {
		n, levels int // levels of quantised scores: few levels, many ties
		lensFrac  float64
	}{
		{2, 2, 0.5}, {10, 3, 0.3}, {57, 4, 0.6}, {200, 7, 0.5}, {301, 1000, 0.2}, {500, 2, 0.9},
	} {
		for seed := range uint64(5) {
			rng := rand.New(rand.NewPCG(seed, uint64(tc.n)))
			prob, label := make([]float64, tc.n), make([]int, tc.n)
			for i := range prob {
				// make sure both classes are present
				if i == 0 || (i > 1 && rng.Float64() < tc.lensFrac) {
					label[i] = 1
				}
				prob[i] = float64(rng.IntN(tc.levels)+label[i]) / float64(tc.levels)
			}
			got, err := AUC(prob, label)
			if err != nil {
				t.Fatal(err)
			}
			if want := pairwiseAUC(prob, label); math.Abs(got-want) > 1e-12 {
				t.Errorf("n %d levels %d seed %d: AUC %v, pairwise count %v", tc.n, tc.levels, seed, got, want)
			}
			// The ROC with diagonal tie steps encloses the same area.
			roc, err := ROC(prob, label)
			if err != nil {
				t.Fatal(err)
			}
			var area float64
			for i := 1; i < len(roc); i++ {
				area += (roc[i].FPR - roc[i-1].FPR) * (roc[i].TPR + roc[i-1].TPR) / 2
			}
			if math.Abs(area-got) > 1e-12 {
				t.Errorf("n %d levels %d seed %d: trapezoid area %v, AUC %v", tc.n, tc.levels, seed, area, got)
			}
		}
	}
}

func TestAUCKnown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		prob  []float64
		label []int
		want  float64
	}{
		{"perfect", []float64{0.9, 0.8, 0.3, 0.1}, []int{1, 1, 0, 0}, 1},
		{"inverted", []float64{0.9, 0.8, 0.3, 0.1}, []int{0, 0, 1, 1}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5, 0.5}, []int{1, 0, 0, 1, 1}, 0.5},
		{"one tie", []float64{0.9, 0.8, 0.8, 0.1}, []int{1, 1, 0, 0}, 3.5 / 4},
		{"one swap", []float64{0.9, 0.7, 0.8, 0.1}, []int{1, 1, 0, 0}, 3.0 / 4},
		{"raw logits", []float64{-3, 12, -7, 0}, []int{0, 1, 0, 1}, 1},
	} {
		got, err := AUC(tc.prob, tc.label)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: AUC %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestInputErrors(t *testing.T) {
	metrics := map[string]func([]float64, []int) error{
		"Accuracy": func(p []float64, l []int) error { _, err := Accuracy(p, l, 0.5); return err },
		"AUC":      func(p []float64, l []int) error { _, err := AUC(p, l); return err },
		"ROC":      func(p []float64, l []int) error { _, err := ROC(p, l); return err },
		"TPR0":     func(p []float64, l []int) error { _, err := TPR0(p, l); return err },
		"Bootstrap": func(p []float64, l []int) error {
			_, err := Bootstrap(p, l, 10, 1, AUC)
			return err
		},
		"Evaluate": func(p []float64, l []int) error { _, err := Evaluate(p, l, DefaultOptions()); return err },
	}
	for _, tc := range []struct {
		name     string
		prob     []float64
		label    []int
		want     string
		oneClass bool // an error only for metrics that need both classes
	}{
		{"empty", nil, nil, "no scores", false},
		{"length mismatch", []float64{0.1, 0.9}, []int{0}, "2 scores but 1 labels", false},
		{"bad label", []float64{0.1, 0.9}, []int{0, 2}, "label 1 is 2", false},
		{"NaN score", []float64{0.1, math.NaN()}, []int{0, 1}, "score 1 is NaN", false},
		{"infinite score", []float64{math.Inf(1), 0.2}, []int{0, 1}, "score 0 is +Inf", false},
		{"lenses only", []float64{0.1, 0.9}, []int{1, 1}, "needs both classes, got 2 lenses and 0 non-lenses", true},
		{"non-lenses only", []float64{0.3}, []int{0}, "got 0 lenses and 1 non-lenses", true},
	} {
		for name, f := range metrics {
			err := f(tc.prob, tc.label)
			if tc.oneClass && name == "Accuracy" {
				if err != nil {
					t.Errorf("%s on %s: %v, want no error", name, tc.name, err)
				}
				continue
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "eval: ") {
				t.Errorf("%s on %s: error %v, want one containing %q", name, tc.name, err, tc.want)
			}
		}
	}
}

func TestROC(t *testing.T) {
	prob := []float64{0.9, 0.8, 0.8, 0.6, 0.4, 0.4, 0.2}
	label := []int{1, 1, 0, 1, 0, 1, 0}
	roc, err := ROC(prob, label)
	if err != nil {
		t.Fatal(err)
	}
	want := []ROCPoint{
		{0, 0, math.Nextafter(0.9, 2)},
		{0, 0.25, 0.9},
		{1.0 / 3, 0.5, 0.8}, // the tie at 0.8 is one diagonal step
		{1.0 / 3, 0.75, 0.6},
		{2.0 / 3, 1, 0.4},
		{1, 1, 0.2},
	}
	if len(roc) != len(want) {
		t.Fatalf("ROC has %d points %v, want %d", len(roc), roc, len(want))
	}
	for i := range want {
		if math.Abs(roc[i].FPR-want[i].FPR) > 1e-15 || roc[i].TPR != want[i].TPR || roc[i].Threshold != want[i].Threshold {
			t.Errorf("point %d: %+v, want %+v", i, roc[i], want[i])
		}
	}

	// Random curves start at (0, 0), end at (1, 1) and never go down or left.
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 20 {
		prob, label := binormal(rng, 1+n, 1+rng.IntN(30), 1)
		for i := range prob {
			prob[i] = math.Round(prob[i]*4) / 4 // ties
		}
		roc, err := ROC(prob, label)
		if err != nil {
			t.Fatal(err)
		}
		first, last := roc[0], roc[len(roc)-1]
		if first.FPR != 0 || first.TPR != 0 || last.FPR != 1 || last.TPR != 1 {
			t.Fatalf("curve runs from %+v to %+v", first, last)
		}
		for i := 1; i < len(roc); i++ {
			if roc[i].FPR < roc[i-1].FPR || roc[i].TPR < roc[i-1].TPR || roc[i].Threshold >= roc[i-1].Threshold {
				t.Fatalf("points %d and %d out of order: %+v %+v", i-1, i, roc[i-1], roc[i])
			}
		}
	}
}

func TestTPRAtFPR(t *testing.T) {
	// 4 lenses, 200 non-lenses: one non-lens outranks three lenses, a
	// second one outranks two.
	prob := []float64{0.99, 0.97, 0.9, 0.7, 0.5, 0.5, 0.3}
	label := []int{1, 0, 1, 0, 1, 1, 0}
	for range 197 {
		prob, label = append(prob, 0.1), append(label, 0)
	}
	roc, err := ROC(prob, label)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ fpr, want float64 }{
		{-0.1, 0},
		{0, 0.25},     // only the lens above every non-lens
		{0.001, 0.25}, // below 1/200: still no false positive allowed
		{0.005, 0.5},  // one false positive allowed: down to the 0.9 lens
		{0.0099, 0.5}, // two not yet
		{0.01, 1},     // two allowed: down to the 0.5 lenses
		{0.015, 1},
		{1, 1},
	} {
		if got := TPRAtFPR(roc, tc.fpr); got != tc.want {
			t.Errorf("TPR at FPR %v: %v, want %v", tc.fpr, got, tc.want)
		}
	}
	if got := TPRAtFPR(nil, 0.5); got != 0 {
		t.Errorf("TPR of an empty curve: %v, want 0", got)
	}
}

func TestTPR0(t *testing.T) {
	for _, tc := range []struct {
		name  string
		prob  []float64
		label []int
		want  float64
	}{
		{"separated", []float64{0.9, 0.8, 0.3, 0.1}, []int{1, 1, 0, 0}, 1},
		{"non-lens on top", []float64{0.9, 0.8, 0.95, 0.1}, []int{1, 1, 0, 0}, 0},
		{"tie with best non-lens not counted", []float64{0.9, 0.8, 0.8, 0.1}, []int{1, 1, 0, 0}, 0.5},
		{"one of three", []float64{0.9, 0.4, 0.5, 0.7, 0.6}, []int{1, 1, 0, 0, 1}, 1.0 / 3},
	} {
		got, err := TPR0(tc.prob, tc.label)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: TPR0 %v, want %v", tc.name, got, tc.want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		prob, label := binormal(rng, 1+rng.IntN(40), 1+rng.IntN(40), 2)
		for i := range prob {
			prob[i] = math.Round(prob[i] * 3)
		}
		roc, _ := ROC(prob, label)
		got, err := TPR0(prob, label)
		if err != nil {
			t.Fatal(err)
		}
		if want := TPRAtFPR(roc, 0); got != want {
			t.Fatalf("TPR0 %v, TPR at FPR 0 %v", got, want)
		}
	}
}

func TestConfusion(t *testing.T) {
	prob := []float64{0.9, 0.5, 0.49, 0.2, 0.7, 0.5, 0.1}
	label := []int{1, 1, 1, 1, 0, 0, 0}
	for _, tc := range []struct {
		threshold float64
		want      Confusion
		accuracy  float64
	}{
		{0.5, Confusion{TP: 2, FP: 2, TN: 1, FN: 2}, 3.0 / 7}, // scores equal to the threshold are lenses
		{0.6, Confusion{TP: 1, FP: 1, TN: 2, FN: 3}, 3.0 / 7},
		{0, Confusion{TP: 4, FP: 3}, 4.0 / 7},
		{1, Confusion{TN: 3, FN: 4}, 3.0 / 7},
	} {
		c, err := ConfusionAt(prob, label, tc.threshold)
		if err != nil {
			t.Fatal(err)
		}
		if c != tc.want {
			t.Errorf("threshold %v: %+v, want %+v", tc.threshold, c, tc.want)
		}
		acc, err := Accuracy(prob, label, tc.threshold)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(acc-tc.accuracy) > 1e-15 {
			t.Errorf("threshold %v: accuracy %v, want %v", tc.threshold, acc, tc.accuracy)
		}
	}
	if _, err := ConfusionAt(prob, label, math.NaN()); err == nil {
		t.Error("a NaN threshold was accepted")
	}
}
