package eval

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestKNNHandExample follows DINO's knn_classifier by hand: top k by cosine,
// weights exp(sim/T) summed per class.
func TestKNNHandExample(t *testing.T) {
	train := [][]float32{{1, 0}, {0.8, 0.6}, {0.6, 0.8}, {0, 1}, {-1, 0}}
	label := []int{1, 0, 1, 0, 1}
	e := func(s float64) float64 { return math.Exp(s / 0.1) }
	for _, tc := range []struct {
		name  string
		query []float32
		k     int
		score float64
		pred  int
	}{
		// sims 1, 0.8, 0.6, 0, -1: neighbours 0 (lens), 1 (non-lens), 2 (lens)
		{"near lens", []float32{2, 0}, 3, (e(1) + e(0.6)) / (e(1) + e(0.6) + e(0.8)), 1},
		// sims 0, 0.6, 0.8, 1, 0: neighbours 3 (non-lens), 2 (lens), 1 (non-lens)
		{"near non-lens", []float32{0, 3}, 3, e(0.8) / (e(0.8) + e(1) + e(0.6)), 0},
		{"all five", []float32{0, 3}, 5, (e(0.8) + 2*e(0)) / (e(0.8) + 2*e(0) + e(1) + e(0.6)), 0},
		{"nearest only", []float32{0.5, 0.1}, 1, 1, 1},
	} {
		pred, score, err := KNN(train, label, [][]float32{tc.query}, tc.k, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(score[0]-tc.score) > 1e-6 || pred[0] != tc.pred {
			t.Errorf("%s: pred %d score %.9f, want %d %.9f", tc.name, pred[0], score[0], tc.pred, tc.score)
		}
	}
}

func TestKNNTies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		train [][]float32
		label []int
		query []float32
		k     int
		score float64
		pred  int
	}{
		{"tied vote goes to lens", [][]float32{{1, 0}, {0, 1}}, []int{0, 1}, []float32{1, 1}, 2, 0.5, 1},
		{"equal similarity: lower index first", [][]float32{{1, 0}, {2, 0}}, []int{1, 0}, []float32{1, 0}, 1, 1, 1},
		{"equal similarity: lower index first, reversed", [][]float32{{1, 0}, {2, 0}}, []int{0, 1}, []float32{1, 0}, 1, 0, 0},
		{"zero query vector ties everything", [][]float32{{1, 0}, {0, 1}, {1, 1}}, []int{0, 1, 1}, []float32{0, 0}, 2, 0.5, 1},
	} {
		pred, score, err := KNN(tc.train, tc.label, [][]float32{tc.query}, tc.k, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		if score[0] != tc.score || pred[0] != tc.pred {
			t.Errorf("%s: pred %d score %v, want %d %v", tc.name, pred[0], score[0], tc.pred, tc.score)
		}
	}
}

// randFeatures draws n vectors of dimension d around centre (scaled by spread).
func randFeatures(rng *rand.Rand, n, d int, centre []float32, spread float64) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
		for j := range out[i] {
			out[i][j] = float32(rng.NormFloat64() * spread)
			if centre != nil {
				out[i][j] += centre[j]
			}
		}
	}
	return out
}

func TestKNNSeparatedClusters(t *testing.T) {
	const d = 16
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := make([]float32, d), make([]float32, d)
	a[0], b[1] = 1, 1 // orthogonal directions
	train := append(randFeatures(rng, 60, d, a, 0.1), randFeatures(rng, 40, d, b, 0.1)...)
	label := make([]int, 100)
	for i := range 60 {
		label[i] = 1
	}
	query := append(randFeatures(rng, 30, d, a, 0.1), randFeatures(rng, 30, d, b, 0.1)...)
	pred, score, err := KNN(train, label, query, KNNK, KNNTemperature)
	if err != nil {
		t.Fatal(err)
	}
	for i := range query {
		want := 0
		if i < 30 {
			want = 1
		}
		if pred[i] != want || (want == 1) != (score[i] > 0.99) || (want == 0) != (score[i] < 0.01) {
			t.Errorf("query %d: pred %d score %v, want %d", i, pred[i], score[i], want)
		}
	}
	qlabel := make([]int, 60)
	for i := range 30 {
		qlabel[i] = 1
	}
	if auc, _ := AUC(score, qlabel); auc != 1 {
		t.Errorf("AUC of the lens vote share %v, want 1", auc)
	}
}

// bruteKNN is the textbook kNN vote in float64: sort every train vector by
// cosine similarity and sum exp(sim/T) over the k first.
func bruteKNN(train [][]float32, label []int, q []float32, k int, T float64) float64 {
	norm := func(v []float32) float64 {
		s := 0.0
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	sims := make([]float64, len(train))
	idx := make([]int, len(train))
	for i, v := range train {
		dot := 0.0
		for j := range v {
			dot += float64(v[j]) * float64(q[j])
		}
		sims[i], idx[i] = dot/(norm(v)*norm(q)), i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(sims[b], sims[a]) })
	var w [2]float64
	for _, i := range idx[:k] {
		w[label[i]] += math.Exp(sims[i] / T)
	}
	return w[1] / (w[0] + w[1])
}

func TestKNNMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct{ nt, nq, d, k int }{
		{1, 3, 4, 1}, {50, 33, 8, 20}, {200, 101, 24, 20}, {97, 40, 5, 97},
	} {
		train, query := randFeatures(rng, tc.nt, tc.d, nil, 1), randFeatures(rng, tc.nq, tc.d, nil, 1)
		label := make([]int, tc.nt)
		for i := range label {
			label[i] = rng.IntN(2)
		}
		pred, score, err := KNN(train, label, query, tc.k, KNNTemperature)
		if err != nil {
			t.Fatal(err)
		}
		for i, q := range query {
			want := bruteKNN(train, label, q, tc.k, KNNTemperature)
			if math.Abs(score[i]-want) > 1e-5 || (pred[i] == 1) != (score[i] >= 0.5) {
				t.Errorf("%+v query %d: pred %d score %v, brute force %v", tc, i, pred[i], score[i], want)
			}
		}
		// Any blocking gives the same answer bit for bit.
		for _, block := range []int{1, 3 * tc.nt, 7*tc.nt + 1} {
			p2, s2, err := knn(train, label, query, tc.k, KNNTemperature, block)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p2, pred) || !slices.Equal(s2, score) {
				t.Errorf("%+v: block %d changes the result", tc, block)
			}
		}
	}
}

func TestKNNDoesNotModifyInput(t *testing.T) {
	train, query := [][]float32{{3, 4}, {0, 2}}, [][]float32{{6, 8}}
	if _, _, err := KNN(train, []int{1, 0}, query, 1, 0.1); err != nil {
		t.Fatal(err)
	}
	if train[0][0] != 3 || train[1][1] != 2 || query[0][1] != 8 {
		t.Errorf("features changed: %v %v", train, query)
	}
	if pred, score, err := KNN(train, []int{1, 0}, nil, 1, 0.1); err != nil || len(pred) != 0 || len(score) != 0 {
		t.Errorf("no queries: %v %v %v", pred, score, err)
	}
}

func TestKNNErrors(t *testing.T) {
	ok := [][]float32{{1, 0}, {0, 1}}
	for _, tc := range []struct {
		name         string
		train, query [][]float32
		label        []int
		k            int
		T            float64
		want         string
	}{
		{"no train", nil, ok, nil, 1, 0.1, "no train features"},
		{"label count", ok, ok, []int{1}, 1, 0.1, "2 train features but 1 labels"},
		{"bad label", ok, ok, []int{1, -1}, 1, 0.1, "train label 1 is -1"},
		{"k zero", ok, ok, []int{1, 0}, 0, 0.1, "k = 0: want 1 to 2"},
		{"k too big", ok, ok, []int{1, 0}, 3, 0.1, "k = 3"},
		{"zero temperature", ok, ok, []int{1, 0}, 1, 0, "temperature 0"},
		{"NaN temperature", ok, ok, []int{1, 0}, 1, math.NaN(), "temperature NaN"},
		{"empty features", [][]float32{{}}, ok, []int{1}, 1, 0.1, "train feature 0 is empty"},
		{"ragged train", [][]float32{{1, 0}, {1}}, ok, []int{1, 0}, 1, 0.1, "train feature 1 has 1 values, want 2"},
		{"query dimension", ok, [][]float32{{1, 0, 0}}, []int{1, 0}, 1, 0.1, "query feature 0 has 3 values, want 2"},
		{"NaN feature", ok, [][]float32{{1, float32(math.NaN())}}, []int{1, 0}, 1, 0.1, "query feature 0 value 1 is NaN"},
	} {
		_, _, err := KNN(tc.train, tc.label, tc.query, tc.k, tc.T)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
