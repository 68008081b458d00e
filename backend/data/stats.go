package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/layout"
)

// Stats are per-channel (g, r, i) normalisation statistics of the train
// split's centre crops, in the pixel units of the files.
//
// Std is the seed's definition and the default for normalising: the mean over
// images of each image's population standard deviation (ddof 0, numpy's
// np.std default). GlobalStd is the population standard deviation of all
// train pixels together; it is larger, since it also holds the spread between
// images.
type Stats struct {
	Mean      [3]float64 `json:"mean"`
	Std       [3]float64 `json:"std"`
	GlobalStd [3]float64 `json:"global_std"`
	Crop      int        `json:"crop"`  // centre crop in px, 0 = whole images
	Count     int        `json:"count"` // images
}

// statsVersion changes whenever the definition of Stats changes, making old
// caches stale.
const statsVersion = 1

// ComputeStats reads every train image of dir (DIR/lenses/NAME and
// DIR/nonlenses/NAME), centre-cropped to crop px, and returns the statistics.
// Any unreadable or non-finite image is an error naming it.
func ComputeStats(dir string, train ClassFiles, crop int) (Stats, error) {
	if train.Len() == 0 {
		return Stats{}, fmt.Errorf("data: %s: no train images for statistics", dir)
	}
	st := Stats{Crop: crop, Count: train.Len()}
	// Per channel: pixel count, running mean and sum of squared deviations
	// (Chan et al.'s pairwise merge of per-image moments, stable in float64).
	var n, mean, m2 [3]float64
	d := &Dataset{Dir: dir}
	err := d.each(train, ReadOptions{Crop: crop}, func(_ Label, im Image) {
		for c := range 3 {
			p := im.Plane(c)
			k := float64(len(p))
			var s float64
			for _, v := range p {
				s += float64(v)
			}
			mu := s / k
			var ss float64
			for _, v := range p {
				d := float64(v) - mu
				ss += d * d
			}
			st.Std[c] += math.Sqrt(ss / k)
			d := mu - mean[c]
			tot := n[c] + k
			mean[c] += d * k / tot
			m2[c] += ss + d*d*n[c]*k/tot
			n[c] = tot
		}
	})
	if err != nil {
		return Stats{}, err
	}
	for c := range 3 {
		st.Mean[c] = mean[c]
		st.Std[c] /= float64(st.Count)
		st.GlobalStd[c] = math.Sqrt(m2[c] / n[c])
	}
	return st, nil
}

// statsCache is the content of layout.StatsFile.
type statsCache struct {
	Version   int    `json:"version"`
	TrainHash string `json:"train_hash"` // sha256 of the sorted class/name list
	Stats     Stats  `json:"stats"`
}

// LoadStats returns the statistics of s.Train at crop from DIR/layout.StatsFile when
// it was computed for the same crop and the same train file list, and
// otherwise computes them and rewrites the cache. A cache that cannot be
// written (a read-only folder) is not an error: the statistics are returned
// and computed again next time.
func LoadStats(dir string, s Splits, crop int) (Stats, error) {
	hash := trainHash(s.Train)
	path := layout.Dataset(dir).Path(layout.StatsFile)
	if b, err := os.ReadFile(path); err == nil {
		var c statsCache
		if json.Unmarshal(b, &c) == nil && c.Version == statsVersion && c.TrainHash == hash && c.Stats.Crop == crop {
			return c.Stats, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Stats{}, fmt.Errorf("data: %w", err)
	}
	st, err := ComputeStats(dir, s.Train, crop)
	if err != nil {
		return Stats{}, err
	}
	b, err := json.MarshalIndent(statsCache{Version: statsVersion, TrainHash: hash, Stats: st}, "", " ")
	if err == nil {
		_ = atomicfile.WriteBytes(path, append(b, '\n')) // best effort, as documented
	}
	return st, nil
}

// trainHash identifies a train file list regardless of its order.
func trainHash(train ClassFiles) string {
	var keys []string
	for _, l := range Labels {
		for _, name := range train.Files(l) {
			keys = append(keys, ClassDirs[l]+"/"+name)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
