package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
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

// ComputeStats reads every train image of dir (DIR/lenses/NAME,
// DIR/nonlenses/NAME and DIR/unlabelled/NAME), centre-cropped to crop px,
// and returns the statistics. Any unreadable or non-finite image is an
// error naming it.
func ComputeStats(dir string, train ClassFiles, crop int) (Stats, error) {
	if train.Len() == 0 {
		return Stats{}, fmt.Errorf("data: %s: no train images for statistics", dir)
	}
	var err error
	st := StatsOf(func(yield func(Moments) bool) {
		err = (&Dataset{Dir: dir}).each(train, ReadOptions{Crop: crop}, func(_ Label, im Image) { yield(MomentsOf(im)) })
	}, crop)
	if err != nil {
		return Stats{}, err
	}
	return st, nil
}

// Moments are one image's pixel count, mean and sum of squared deviations
// from the mean, per band: what Stats merge.
type Moments struct{ N, Mean, M2 [3]float64 }

// MomentsOf returns im's moments.
func MomentsOf(im Image) Moments {
	var m Moments
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
		m.N[c], m.Mean[c], m.M2[c] = k, mu, ss
	}
	return m
}

// StatsOf returns the statistics at crop of the images whose moments
// moments yields, merged in that order (Chan et al.'s pairwise merge,
// stable in float64): the same numbers from the same images in the same
// order, whoever computed the moments.
func StatsOf(moments iter.Seq[Moments], crop int) Stats {
	st := Stats{Crop: crop}
	var n, mean, m2 [3]float64
	for m := range moments {
		st.Count++
		for c := range 3 {
			k, mu, ss := m.N[c], m.Mean[c], m.M2[c]
			st.Std[c] += math.Sqrt(ss / k)
			d := mu - mean[c]
			tot := n[c] + k
			mean[c] += d * k / tot
			m2[c] += ss + d*d*n[c]*k/tot
			n[c] = tot
		}
	}
	for c := range 3 {
		st.Mean[c] = mean[c]
		st.Std[c] /= float64(st.Count)
		st.GlobalStd[c] = math.Sqrt(m2[c] / n[c])
	}
	return st
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
	_ = SaveStats(dir, s, st) // best effort, as documented
	return st, nil
}

// SaveStats writes st, the statistics of s.Train at st.Crop, as the cache
// LoadStats reads.
func SaveStats(dir string, s Splits, st Stats) error {
	b, err := json.MarshalIndent(statsCache{Version: statsVersion, TrainHash: trainHash(s.Train), Stats: st}, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(layout.Dataset(dir).Path(layout.StatsFile), append(b, '\n'))
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
