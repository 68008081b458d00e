package ssl

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
)

// rowFeaturer returns each image's pixels as its features.
type rowFeaturer struct{ stride int }

func (f rowFeaturer) Features(images []float32) ([][]float32, error) {
	var out [][]float32
	for i := 0; i < len(images); i += f.stride {
		out = append(out, images[i:i+f.stride])
	}
	return out, nil
}

// noisySet is n lenses then n non-lenses of 2x2 pixels, named class/name
// as a loaded train split's, each class around its own mean.
func noisySet(rng *rand.Rand, n int, prefix string) (*Set, data.ClassFiles) {
	s := NewSet(2)
	var cf data.ClassFiles
	for _, l := range []data.Label{data.Lens, data.NonLens} {
		for i := range n {
			name := fmt.Sprintf("%s%d.npy", prefix, i)
			if l == data.Lens {
				cf.Lenses = append(cf.Lenses, name)
			} else {
				cf.NonLenses = append(cf.NonLenses, name)
			}
			s.Names = append(s.Names, data.ClassDirs[l]+"/"+name)
			label := 0
			if l == data.Lens {
				label = 1
			}
			s.Labels = append(s.Labels, label)
			for range s.stride() {
				s.Pix = append(s.Pix, float32(float64(label)+rng.NormFloat64()))
			}
		}
	}
	return s, cf
}

// The banks are the fine-tuning subsets of subset seeds 0, 1, 2, as
// indices into the embedded train set, whatever its order.
func TestLabelBanks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	set, train := noisySet(rng, 10, "t")
	// Embed in another order than the split lists: the indices must follow names.
	perm := rng.Perm(set.Len())
	shuffled := NewSet(2)
	for _, i := range perm {
		shuffled.Names = append(shuffled.Names, set.Names[i])
		shuffled.Labels = append(shuffled.Labels, set.Labels[i])
		shuffled.Pix = append(shuffled.Pix, set.Images(i, i+1)...)
	}
	banks, err := labelBanks(shuffled, train, 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(banks) != 3 {
		t.Fatalf("%d banks, want 3", len(banks))
	}
	for seed, bank := range banks {
		subs, err := data.DrawSubsets(train, []int{6}, uint64(seed))
		if err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for _, l := range data.Labels {
			for _, name := range subs[0].Files(l) {
				want = append(want, data.ClassDirs[l]+"/"+name)
			}
		}
		lenses := 0
		for _, i := range bank {
			got = append(got, shuffled.Names[i])
			lenses += shuffled.Labels[i]
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) || lenses != 3 {
			t.Errorf("seed %d: bank %v (%d lenses), want the subset %v", seed, got, lenses, want)
		}
	}
	if slices.Equal(banks[0], banks[1]) && slices.Equal(banks[1], banks[2]) {
		t.Error("the three seeds drew the same bank")
	}

	if _, err := labelBanks(shuffled, train, 30, 3); err == nil || !strings.Contains(err.Error(), "needs 15 lenses, the train split has 10") {
		t.Errorf("a bank larger than the split: %v", err)
	}
	train.Lenses = append(train.Lenses, "absent.npy")
	if _, err := labelBanks(shuffled, train, 22, 1); err == nil || !strings.Contains(err.Error(), "needs 11 nonlenses") {
		t.Errorf("too few non-lenses: %v", err)
	}
	train.NonLenses = append(train.NonLenses, "absent.npy")
	if _, err := labelBanks(shuffled, train, 22, 1); err == nil || !strings.Contains(err.Error(), "lenses/absent.npy is not among the embedded train images") {
		t.Errorf("a subset name not embedded: %v", err)
	}
}

// readKNN's vote with every train image is EvaluateKNN's, and each bank's
// is EvaluateKNN's on a set holding only that bank's images.
func TestReadKNNMatchesEvaluateKNN(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	train, cf := noisySet(rng, 40, "t")
	val, _ := noisySet(rng, 25, "v")
	banks, err := labelBanks(train, cf, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	f := rowFeaturer{train.stride()}
	r, err := readKNN(train.rows(), val.rows(), train, val, banks, 20)
	if err != nil {
		t.Fatal(err)
	}
	all, err := EvaluateKNN(context.Background(), f, train, val, 20, eval.KNNTemperature, eval.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.All.AUC != all.AUC || r.All.Accuracy != all.Accuracy || r.All.AUCCI == nil || *r.All.AUCCI != *all.AUCCI {
		t.Errorf("every label: AUC %v accuracy %v interval %v, EvaluateKNN %v %v %v", r.All.AUC, r.All.Accuracy, r.All.AUCCI, all.AUC, all.Accuracy, all.AUCCI)
	}
	if len(r.FewAUCs) != 3 {
		t.Fatalf("%d bank AUCs, want 3", len(r.FewAUCs))
	}
	sum := 0.0
	for i, bank := range banks {
		sub := NewSet(2)
		for _, j := range bank {
			sub.Names, sub.Labels = append(sub.Names, train.Names[j]), append(sub.Labels, train.Labels[j])
			sub.Pix = append(sub.Pix, train.Images(j, j+1)...)
		}
		// k 20 exceeds the bank's 10 voters: every voter votes.
		want, err := EvaluateKNN(context.Background(), f, sub, val, 10, eval.KNNTemperature, eval.Options{Threshold: 0.5}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.FewAUCs[i] != want.AUC {
			t.Errorf("bank %d: AUC %v, want %v", i, r.FewAUCs[i], want.AUC)
		}
		sum += want.AUC
	}
	if math.Abs(r.FewAUC-sum/3) > 1e-12 {
		t.Errorf("few-label AUC %v, want the banks' mean %v", r.FewAUC, sum/3)
	}
	// The classes are separated by 1 sigma in each of 12 pixels, so 80
	// voters classify better than 10: the banks read lower.
	if r.FewAUC >= r.All.AUC || r.All.AUC < 0.8 {
		t.Errorf("AUC %v with 10 voters, %v with 80: want the larger bank better and above 0.8", r.FewAUC, r.All.AUC)
	}
}

// The gain over another reading is the AUC difference, with a paired
// interval that excludes zero when one side's features carry the classes
// and the other's are noise, and is exactly zero against itself.
func TestKNNGain(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	train, cf := noisySet(rng, 40, "t")
	val, _ := noisySet(rng, 25, "v")
	banks, err := labelBanks(train, cf, 20, 3)
	if err != nil {
		t.Fatal(err)
	}
	noise := func(s *Set) [][]float32 {
		out := make([][]float32, s.Len())
		for i := range out {
			out[i] = []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())}
		}
		return out
	}
	good, err := readKNN(train.rows(), val.rows(), train, val, banks, 20)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := readKNN(noise(train), noise(val), train, val, banks, 20)
	if err != nil {
		t.Fatal(err)
	}
	g, err := good.gainOver(bad, val)
	if err != nil {
		t.Fatal(err)
	}
	if g.Few == nil || math.Abs(g.All.Diff-(good.All.AUC-bad.All.AUC)) > 1e-12 || math.Abs(g.Few.Diff-(good.FewAUC-bad.FewAUC)) > 1e-12 {
		t.Fatalf("gain %+v, want the AUC differences %v and %v", g, good.All.AUC-bad.All.AUC, good.FewAUC-bad.FewAUC)
	}
	if g.All.CI.Lo <= 0 || g.Few.CI.Lo <= 0 || g.All.CI.Lo > g.All.Diff || g.All.CI.Hi < g.All.Diff || g.All.Resamples != gainResamples {
		t.Errorf("informative over noise features: %+v and %+v, want intervals around the gains and above zero", g.All, *g.Few)
	}
	self, err := good.gainOver(good, val)
	if err != nil {
		t.Fatal(err)
	}
	if self.All.Diff != 0 || self.All.CI != (eval.Interval{}) || self.Few.Diff != 0 || self.Few.CI != (eval.Interval{}) {
		t.Errorf("a reading over itself: %+v and %+v, want zero", self.All, *self.Few)
	}
	// Without banks (a train split too small for them) there is no few-label gain.
	noBanks, err := readKNN(train.rows(), val.rows(), train, val, nil, 20)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := noBanks.gainOver(noBanks, val); err != nil || g.Few != nil || noBanks.FewAUCs != nil {
		t.Errorf("without banks: gain %+v, err %v, few AUCs %v", g, err, noBanks.FewAUCs)
	}
}
