package eval

import (
	"errors"
	"fmt"
	"math"
)

// EpochMetrics is the validation score of one training epoch.
type EpochMetrics struct {
	Epoch       int     `json:"epoch"`
	ValAccuracy float64 `json:"val_accuracy"`
	ValAUC      float64 `json:"val_auc"`
}

// SelectBest returns the last epoch (the highest epoch number, the seed's
// choice) and the epoch with the highest validation AUC, the earliest one
// when several tie: fewer epochs for the same score. Reporting both shows
// what choosing on val gains over the seed's rule; history may be in any
// order but must not repeat an epoch.
func SelectBest(history []EpochMetrics) (last, best EpochMetrics, err error) {
	if len(history) == 0 {
		return last, best, errors.New("eval: no epochs to select from")
	}
	seen := make(map[int]bool, len(history))
	for i, h := range history {
		if seen[h.Epoch] {
			return EpochMetrics{}, EpochMetrics{}, fmt.Errorf("eval: epoch %d appears twice in the history", h.Epoch)
		}
		seen[h.Epoch] = true
		if math.IsNaN(h.ValAUC) {
			return EpochMetrics{}, EpochMetrics{}, fmt.Errorf("eval: epoch %d has validation AUC NaN", h.Epoch)
		}
		if i == 0 || h.Epoch > last.Epoch {
			last = h
		}
		if i == 0 || h.ValAUC > best.ValAUC || (h.ValAUC == best.ValAUC && h.Epoch < best.Epoch) {
			best = h
		}
	}
	return last, best, nil
}
