package eval

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// The reference project's kNN monitor settings: 20 neighbours, temperature
// 0.1 (DINO's eval_knn uses 0.07).
const (
	KNNK           = 20
	KNNTemperature = 0.1
)

// knnBlock is the number of similarities computed per matrix product: it
// bounds the scratch memory (4 MiB) whatever the number of queries.
const knnBlock = 1 << 20

// KNN classifies each query feature vector by its k nearest train vectors,
// as DINO's knn_classifier does for two classes. Features (one row of D
// values per image, e.g. CLS tokens) are copied and L2-normalised (a zero
// vector stays zero, as torch's normalize leaves it); similarity is the dot
// product of normalised vectors (cosine); the k most similar train vectors
// vote with weight exp(sim/T), and the class with the larger summed weight
// wins. trainLabel holds 1 for a lens, 0 for a non-lens.
//
// lensScore is the lens share of the vote, w_lens / (w_lens + w_nonlens), in
// [0, 1]: a score for AUC. pred is 1 exactly when lensScore >= 0.5, so a tied
// vote goes to lens, matching Accuracy at threshold 0.5. The weights are
// computed as exp((sim - sim_max)/T), which leaves every share unchanged and
// cannot overflow for small T. Among train vectors with equal similarity the
// lower index is taken first, so results do not depend on blocking or
// scheduling.
//
// The similarities are computed in blocks with blas32.Gemm (whichever BLAS
// blas32.Use installed) and the neighbour search runs on GOMAXPROCS
// goroutines.
func KNN(train [][]float32, trainLabel []int, query [][]float32, k int, T float64) (pred []int, lensScore []float64, err error) {
	return knn(train, trainLabel, query, k, T, knnBlock)
}

// knn is KNN with the block size as a parameter, so tests can force many blocks.
func knn(train [][]float32, trainLabel []int, query [][]float32, k int, T float64, block int) ([]int, []float64, error) {
	if len(train) == 0 {
		return nil, nil, errors.New("eval: kNN has no train features")
	}
	if len(trainLabel) != len(train) {
		return nil, nil, fmt.Errorf("eval: kNN has %d train features but %d labels", len(train), len(trainLabel))
	}
	for i, l := range trainLabel {
		if l != 0 && l != 1 {
			return nil, nil, fmt.Errorf("eval: kNN train label %d is %d: want 1 (lens) or 0 (non-lens)", i, l)
		}
	}
	if k < 1 || k > len(train) {
		return nil, nil, fmt.Errorf("eval: kNN k = %d: want 1 to %d (the train features)", k, len(train))
	}
	if !(T > 0) || math.IsInf(T, 0) {
		return nil, nil, fmt.Errorf("eval: kNN temperature %v: want a finite number > 0", T)
	}
	d := len(train[0])
	if d == 0 {
		return nil, nil, errors.New("eval: kNN train feature 0 is empty")
	}
	tn, err := normalized("train", train, d)
	if err != nil {
		return nil, nil, err
	}
	qn, err := normalized("query", query, d)
	if err != nil {
		return nil, nil, err
	}
	nt, nq := len(train), len(query)
	pred, score := make([]int, nq), make([]float64, nq)
	rows := min(max(1, block/nt), nq)
	sim := make([]float32, rows*nt)
	workers := runtime.GOMAXPROCS(0)
	for start := 0; start < nq; start += rows {
		m := min(rows, nq-start)
		blas32.Gemm(blas.NoTrans, blas.Trans, 1,
			blas32.General{Rows: m, Cols: d, Stride: d, Data: qn[start*d : (start+m)*d]},
			blas32.General{Rows: nt, Cols: d, Stride: d, Data: tn},
			0, blas32.General{Rows: m, Cols: nt, Stride: nt, Data: sim[:m*nt]})
		var wg sync.WaitGroup
		for w := range min(workers, m) {
			wg.Go(func() {
				nb := newNeighbours(k)
				for i := w; i < m; i += workers {
					score[start+i] = nb.vote(sim[i*nt:(i+1)*nt], trainLabel, T)
					if score[start+i] >= 0.5 {
						pred[start+i] = 1
					}
				}
			})
		}
		wg.Wait()
	}
	return pred, score, nil
}

// normalized returns the rows of x, each scaled to unit L2 norm, packed row
// after row. Norms below 1e-12 are taken as 1e-12, as torch's normalize does.
func normalized(what string, x [][]float32, d int) ([]float32, error) {
	out := make([]float32, len(x)*d)
	for i, row := range x {
		if len(row) != d {
			return nil, fmt.Errorf("eval: kNN %s feature %d has %d values, want %d", what, i, len(row), d)
		}
		var ss float64
		for j, v := range row {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("eval: kNN %s feature %d value %d is %v: want a finite number", what, i, j, v)
			}
			ss += f * f
		}
		inv := 1 / max(math.Sqrt(ss), 1e-12)
		for j, v := range row {
			out[i*d+j] = float32(float64(v) * inv)
		}
	}
	return out, nil
}

// neighbours keeps the k most similar train vectors seen so far, most
// similar first, lower index first among equals.
type neighbours struct {
	sim []float32
	idx []int
}

func newNeighbours(k int) *neighbours {
	return &neighbours{sim: make([]float32, 0, k), idx: make([]int, 0, k)}
}

// vote finds the k largest similarities in row and returns the lens share of
// their exp(sim/T) weights.
func (nb *neighbours) vote(row []float32, label []int, T float64) float64 {
	k := cap(nb.sim)
	nb.sim, nb.idx = nb.sim[:0], nb.idx[:0]
	for j, s := range row {
		n := len(nb.sim)
		if n == k {
			if s <= nb.sim[k-1] { // ties keep the earlier index
				continue
			}
			n-- // drop the least similar
		} else {
			nb.sim, nb.idx = append(nb.sim, 0), append(nb.idx, 0)
		}
		p := n
		for p > 0 && nb.sim[p-1] < s {
			nb.sim[p], nb.idx[p] = nb.sim[p-1], nb.idx[p-1]
			p--
		}
		nb.sim[p], nb.idx[p] = s, j
	}
	top := float64(nb.sim[0])
	var w [2]float64
	for i, s := range nb.sim {
		w[label[nb.idx[i]]] += math.Exp((float64(s) - top) / T)
	}
	return w[1] / (w[0] + w[1])
}
