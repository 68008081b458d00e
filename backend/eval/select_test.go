package eval

import (
	"math"
	"strings"
	"testing"
)

func TestSelectBest(t *testing.T) {
	for _, tc := range []struct {
		name             string
		history          []EpochMetrics
		lastEpoch, epoch int
		err              string
	}{
		{"one epoch", []EpochMetrics{{Epoch: 0, ValAUC: 0.9}}, 0, 0, ""},
		{"peak in the middle", []EpochMetrics{{1, 0.9, 0.95}, {2, 0.93, 0.98}, {3, 0.92, 0.97}}, 3, 2, ""},
		{"tie: earliest epoch", []EpochMetrics{{1, 0.9, 0.95}, {2, 0.91, 0.98}, {3, 0.93, 0.98}}, 3, 2, ""},
		{"out of order", []EpochMetrics{{5, 0.9, 0.97}, {2, 0.9, 0.97}, {4, 0.9, 0.96}}, 5, 2, ""},
		{"last is best", []EpochMetrics{{1, 0.8, 0.9}, {2, 0.9, 0.99}}, 2, 2, ""},
		{"empty", nil, 0, 0, "no epochs"},
		{"repeated epoch", []EpochMetrics{{1, 0.8, 0.9}, {1, 0.9, 0.99}}, 0, 0, "epoch 1 appears twice"},
		{"NaN AUC", []EpochMetrics{{1, 0.8, 0.9}, {2, 0.9, math.NaN()}}, 0, 0, "epoch 2 has validation AUC NaN"},
	} {
		last, best, err := SelectBest(tc.history)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if last.Epoch != tc.lastEpoch || best.Epoch != tc.epoch {
			t.Errorf("%s: last %d best %d, want %d and %d", tc.name, last.Epoch, best.Epoch, tc.lastEpoch, tc.epoch)
		}
	}
}
