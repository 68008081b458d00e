package ssl

import (
	"fmt"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
)

// FewLabels is the number of labelled train images the few-label kNN
// monitor votes with: the results table's smallest label count, where
// pretraining helps most. Voting with every train label (about 3900 in the
// default dataset) the monitor reads the all-labels regime, where the
// normalised pixels already give neighbourhoods nearly as good as pretrained
// features do (README, "What the kNN monitor shows").
const FewLabels = 300

// fewLabelDraws is how many FewLabels banks the monitor averages: the
// subsets fine-tuning draws with subset seeds 0, 1 and 2.
const fewLabelDraws = 3

// KNNReading is one reading of the kNN monitor on val.
type KNNReading struct {
	// All votes with every labelled train image.
	All eval.Report `json:"all"`
	// FewAUC is the mean AUC voting with each FewLabels bank; FewAUCs
	// holds one per bank (none when the train split has too few images
	// of a class to draw one).
	FewAUC  float64   `json:"few_auc,omitempty"`
	FewAUCs []float64 `json:"few_aucs,omitempty"`

	// allScores and fewScores are the lens shares of the votes, per val
	// image: what a paired comparison of two readings resamples.
	allScores []float64
	fewScores [][]float64
}

// KNNGain is a kNN reading against another on the same val images (the
// normalised pixels'): AUC differences with paired bootstrap 95% intervals,
// over the images for All, over the images and the bank draws for Few.
type KNNGain struct {
	All eval.Diff  `json:"all"`
	Few *eval.Diff `json:"few,omitempty"`
}

// gainResamples is the number of resamples behind a KNNGain's intervals.
const gainResamples = 1000

// gainOver compares reading r with base, both read on val.
func (r KNNReading) gainOver(base KNNReading, val *Set) (KNNGain, error) {
	var g KNNGain
	var err error
	if g.All, err = eval.SeedPairedBootstrap([][]float64{r.allScores}, [][]float64{base.allScores}, val.Labels, gainResamples, 0, 0.95, eval.AUC); err != nil {
		return g, err
	}
	if len(r.fewScores) == 0 {
		return g, nil
	}
	few, err := eval.SeedPairedBootstrap(r.fewScores, base.fewScores, val.Labels, gainResamples, 0, 0.95, eval.AUC)
	if err != nil {
		return g, err
	}
	g.Few = &few
	return g, nil
}

// labelBanks returns, for subset seeds 0 to draws-1, the indices in set of
// the n-label subset fine-tuning draws from train with that seed
// (data.DrawSubsets); set holds train's images, named class/name.
func labelBanks(set *Set, train data.ClassFiles, n, draws int) ([][]int, error) {
	index := make(map[string]int, set.Len())
	for i, name := range set.Names {
		index[name] = i
	}
	banks := make([][]int, draws)
	for seed := range banks {
		subs, err := data.DrawSubsets(train, []int{n}, uint64(seed))
		if err != nil {
			return nil, err
		}
		for _, l := range data.Labels {
			for _, name := range subs[0].Files(l) {
				i, ok := index[data.ClassDirs[l]+"/"+name]
				if !ok {
					return nil, fmt.Errorf("ssl: kNN bank: %s/%s is not among the embedded train images", data.ClassDirs[l], name)
				}
				banks[seed] = append(banks[seed], i)
			}
		}
	}
	return banks, nil
}

// readKNN votes the val features qf with the train features tf: first with
// all of them (bootstrap intervals included), then with each bank of
// indices into train; k is capped at the voters' number.
func readKNN(tf, qf [][]float32, train, val *Set, banks [][]int, k int) (KNNReading, error) {
	var r KNNReading
	_, score, err := eval.KNN(tf, train.Labels, qf, min(k, len(tf)), eval.KNNTemperature)
	if err != nil {
		return r, err
	}
	if r.All, err = eval.Evaluate(score, val.Labels, eval.DefaultOptions()); err != nil {
		return r, err
	}
	r.allScores = score
	for _, bank := range banks {
		bf, bl := make([][]float32, len(bank)), make([]int, len(bank))
		for j, i := range bank {
			bf[j], bl[j] = tf[i], train.Labels[i]
		}
		_, score, err := eval.KNN(bf, bl, qf, min(k, len(bank)), eval.KNNTemperature)
		if err != nil {
			return r, err
		}
		auc, err := eval.AUC(score, val.Labels)
		if err != nil {
			return r, err
		}
		r.FewAUCs = append(r.FewAUCs, auc)
		r.fewScores = append(r.fewScores, score)
	}
	if len(banks) > 0 {
		// The mean the paired comparison's difference is taken between.
		r.FewAUC, err = eval.MeanStat(r.fewScores, val.Labels, eval.AUC)
	}
	return r, err
}

// rows returns each image of s as one feature vector sharing s's storage:
// the normalised pixels, the features a backbone's must beat.
func (s *Set) rows() [][]float32 {
	out := make([][]float32, s.Len())
	for i := range out {
		out[i] = s.Images(i, i+1)
	}
	return out
}
