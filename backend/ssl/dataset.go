package ssl

import (
	"fmt"
	"strconv"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/nn/ckpt"
)

// Set is a set of images held in memory, centre-cropped to Size and
// normalised: Pix is flat N x 3 x Size x Size float32, the input a Model
// takes. 47 MB holds the seed's 3863 train crops of 32 px.
type Set struct {
	Size   int
	Names  []string // dataset-relative (lenses/12.npy), or the path as given
	Labels []int    // 1 lens, 0 non-lens; -1 when unknown (scored files)
	Pix    []float32
}

// NewSet returns an empty set of size x size images.
func NewSet(size int) *Set { return &Set{Size: size} }

// Len is the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// stride is the number of floats per image.
func (s *Set) stride() int { return 3 * s.Size * s.Size }

// Images returns images [lo, hi) as one flat slice sharing s's storage.
func (s *Set) Images(lo, hi int) []float32 { return s.Pix[lo*s.stride() : hi*s.stride()] }

// Add appends im, which must be (3, Size, Size), normalised by norm.
func (s *Set) Add(name string, label int, im data.Image, norm augment.Normalization) error {
	n := len(s.Pix)
	s.Pix = append(s.Pix, im.Pix...)
	if err := ModelInput(data.Image{C: im.C, H: im.H, W: im.W, Pix: s.Pix[n:]}, s.Size, norm); err != nil {
		s.Pix = s.Pix[:n]
		return fmt.Errorf("ssl: %s: %w", name, err)
	}
	s.Names = append(s.Names, name)
	s.Labels = append(s.Labels, label)
	return nil
}

// ModelInput checks that im is a model input of size px, three bands, and
// normalises it in place as the model was trained.
func ModelInput(im data.Image, size int, norm augment.Normalization) error {
	if im.C != 3 || im.H != size || im.W != size {
		return fmt.Errorf("image is (%d, %d, %d), want (3, %d, %d)", im.C, im.H, im.W, size, size)
	}
	return augment.Normalize(im, norm)
}

// LoadSet reads the images cf names from the dataset folder dir, lenses
// first, centre-cropped to size and normalised. The first unreadable image
// is an error naming it.
func LoadSet(dir string, cf data.ClassFiles, size int, norm augment.Normalization) (*Set, error) {
	ims, labels, err := (&data.Dataset{Dir: dir}).Load(cf, data.ReadOptions{Crop: size})
	if err != nil {
		return nil, err
	}
	s := NewSet(size)
	s.Pix = make([]float32, 0, len(ims)*s.stride())
	i := 0
	for _, l := range data.Labels {
		for _, name := range cf.Files(l) {
			if err := s.Add(data.ClassDirs[l]+"/"+name, int(labels[i]), ims[i], norm); err != nil {
				return nil, err
			}
			i++
		}
	}
	return s, nil
}

// toAugment converts a checkpoint's normalisation to the float32 one images
// are normalised with, checking it.
func toAugment(n ckpt.Normalization) (augment.Normalization, error) {
	var a augment.Normalization
	for c := range 3 {
		a.Mean[c], a.Std[c] = float32(n.Mean[c]), float32(n.Std[c])
	}
	return a, a.Validate()
}

// toCkpt converts the normalisation images were normalised with for a
// checkpoint sidecar; the float32 values convert back exactly.
func toCkpt(a augment.Normalization) ckpt.Normalization {
	var n ckpt.Normalization
	for c := range 3 {
		n.Mean[c], n.Std[c] = float64(a.Mean[c]), float64(a.Std[c])
	}
	return n
}

// StatsNormalization returns the seed's normalisation of a dataset: the
// per-band mean of the train split's centre crops and the mean of their
// per-image standard deviations (cached by data.LoadStats), checked.
func StatsNormalization(dir string, s data.Splits, crop int) (augment.Normalization, error) {
	st, err := data.LoadStats(dir, s, crop)
	if err != nil {
		return augment.Normalization{}, err
	}
	return toAugment(ckpt.Normalization{Mean: st.Mean, Std: st.Std})
}

// labelledTrain returns the training images finetune.labels asks for and a
// sentence saying where they came from. A subset is either drawn from the
// train split (data.DrawSubsets, balanced, nested across sizes) or read
// from finetune.subset_file, which must name train images only: the seed's
// own subset files overlap val and test and are refused.
func labelledTrain(f config.FinetuneArgs, s data.Splits) (data.ClassFiles, string, error) {
	if f.Labels == "all" {
		return s.Train, fmt.Sprintf("all %d train images (%d lenses, %d non-lenses)",
			s.Train.Len(), len(s.Train.Lenses), len(s.Train.NonLenses)), nil
	}
	if f.SubsetFile != "" {
		cf, err := data.ReadSubset(f.SubsetFile)
		if err != nil {
			return data.ClassFiles{}, "", err
		}
		if err := checkSubset(cf, s); err != nil {
			return data.ClassFiles{}, "", fmt.Errorf("ssl: finetune.subset_file %s: %w", f.SubsetFile, err)
		}
		return cf, fmt.Sprintf("%d labelled train images (%d lenses, %d non-lenses) from %s",
			cf.Len(), len(cf.Lenses), len(cf.NonLenses), f.SubsetFile), nil
	}
	n, err := strconv.Atoi(f.Labels)
	if err != nil {
		return data.ClassFiles{}, "", fmt.Errorf("ssl: finetune.labels: %q is not a number or all", f.Labels)
	}
	subs, err := data.DrawSubsets(s.Train, []int{n}, f.SubsetSeed)
	if err != nil {
		return data.ClassFiles{}, "", err
	}
	return subs[0], fmt.Sprintf("%d labelled train images (%d lenses, %d non-lenses) drawn with subset_seed %d from %d train images",
		n, n/2, n/2, f.SubsetSeed, s.Train.Len()), nil
}

// checkSubset refuses a subset with an image outside the train split (in
// val or test: a leak; or in no split) or listed twice.
func checkSubset(cf data.ClassFiles, s data.Splits) error {
	if cf.Len() == 0 {
		return fmt.Errorf("no images")
	}
	where := map[string]data.SplitName{}
	for _, name := range data.SplitNames {
		for _, l := range []data.Label{data.Lens, data.NonLens} {
			for _, f := range s.Split(name).Files(l) {
				where[data.ClassDirs[l]+"/"+f] = name
			}
		}
	}
	seen := map[string]bool{}
	var leaks []string
	for _, l := range []data.Label{data.Lens, data.NonLens} {
		for _, f := range cf.Files(l) {
			key := data.ClassDirs[l] + "/" + f
			switch {
			case seen[key]:
				return fmt.Errorf("%s is listed twice", key)
			case where[key] == "":
				return fmt.Errorf("%s is in no split of the dataset", key)
			case where[key] != data.Train:
				leaks = append(leaks, key+" ("+string(where[key])+")")
			}
			seen[key] = true
		}
	}
	if len(leaks) > 0 {
		return fmt.Errorf("%d of its %d images are in val or test, first %s: training on them would leak into the evaluation",
			len(leaks), cf.Len(), leaks[0])
	}
	return nil
}
