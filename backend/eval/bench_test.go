package eval

import (
	"math/rand/v2"
	"testing"
)

// testSplit is the size of the test split: 458 lenses, 300 non-lenses.
func testSplit() ([]float64, []int) {
	return binormal(rand.New(rand.NewPCG(1, 1)), 458, 300, 2.5)
}

func BenchmarkAUC758(b *testing.B) {
	prob, label := testSplit()
	for b.Loop() {
		if _, err := AUC(prob, label); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBootstrapAUC1000x758(b *testing.B) {
	prob, label := testSplit()
	for b.Loop() {
		if _, err := Bootstrap(prob, label, 1000, 1, AUC); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluate758(b *testing.B) {
	prob, label := testSplit()
	for b.Loop() {
		if _, err := Evaluate(prob, label, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKNN is the kNN monitor at the seed's scale: 3863 train and 758
// test CLS features of ViT-S (D 384).
func BenchmarkKNN3863x758xD384(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	train, query := randFeatures(rng, 3863, 384, nil, 1), randFeatures(rng, 758, 384, nil, 1)
	label := make([]int, len(train))
	for i := range label {
		label[i] = rng.IntN(2)
	}
	for b.Loop() {
		if _, _, err := KNN(train, label, query, KNNK, KNNTemperature); err != nil {
			b.Fatal(err)
		}
	}
}
