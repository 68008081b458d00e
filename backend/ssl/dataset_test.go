package ssl

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/ssl/ssltest"
)

// A labelled subset holds train images only, however it is chosen, and
// the run records it.
func TestLabelledSubsetsAreLeakFree(t *testing.T) {
	dataDir, splits := ssltest.TempDataset(t, ssltest.Spec{
		Train: ssltest.Split{Lenses: 151, NonLenses: 152, Signal: 1},
		Val:   ssltest.Split{Lenses: 3, NonLenses: 3, Signal: 1},
		Test:  ssltest.Split{Lenses: 3, NonLenses: 3, Signal: 1},
		Size:  32, Seed: 1,
	})
	inTrain := map[string]bool{}
	for _, l := range []data.Label{data.Lens, data.NonLens} {
		for _, f := range splits.Train.Files(l) {
			inTrain[data.ClassDirs[l]+"/"+f] = true
		}
	}
	drawn, err := data.DrawSubsets(splits.Train, []int{300}, 9)
	if err != nil {
		t.Fatal(err)
	}
	explicit := filepath.Join(t.TempDir(), "subset.json")
	picked := data.ClassFiles{Lenses: splits.Train.Lenses[:150], NonLenses: splits.Train.NonLenses[2:152]}
	if err := data.WriteSubsetJSON(explicit, picked); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want data.ClassFiles
	}{
		{"drawn", func(c *config.Config) { c.Finetune.Labels, c.Finetune.SubsetSeed = "300", 9 }, drawn[0]},
		{"from a file", func(c *config.Config) { c.Finetune.Labels, c.Finetune.SubsetFile = "300", explicit }, picked},
		{"all", nil, splits.Train},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			run, err := NewClassifierRun(testConfig(t, dataDir, out, tc.edit), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			if run.TrainSet.Len() != tc.want.Len() {
				t.Fatalf("%d labelled images, want %d", run.TrainSet.Len(), tc.want.Len())
			}
			for _, name := range run.TrainSet.Names {
				if !inTrain[name] {
					t.Fatalf("%s is trained on but not in the train split", name)
				}
			}
			lenses := 0
			for i, name := range run.TrainSet.Names {
				if (run.TrainSet.Labels[i] == 1) != strings.HasPrefix(name, "lenses/") {
					t.Fatalf("%s has label %d", name, run.TrainSet.Labels[i])
				}
				lenses += run.TrainSet.Labels[i]
			}
			if lenses != len(tc.want.Lenses) {
				t.Errorf("%d lenses, want %d", lenses, len(tc.want.Lenses))
			}
			if tc.edit == nil {
				if layout.IsFile(filepath.Join(out, layout.SubsetFile)) {
					t.Errorf("%s written for all labels", layout.SubsetFile)
				}
				return
			}
			got, err := data.ReadSubset(filepath.Join(out, layout.SubsetFile))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s does not hold the subset trained on", layout.SubsetFile)
			}
		})
	}
}

func TestSubsetFilesMustHoldTrainImagesOnly(t *testing.T) {
	s := data.Splits{
		Train: data.ClassFiles{Lenses: []string{"1.npy", "2.npy"}, NonLenses: []string{"3.npy", "4.npy"}},
		Val:   data.ClassFiles{Lenses: []string{"5.npy"}, NonLenses: []string{"6.npy"}},
		Test:  data.ClassFiles{Lenses: []string{"7.npy"}, NonLenses: []string{"8.npy"}},
	}
	for _, tc := range []struct {
		name string
		cf   data.ClassFiles
		want string
	}{
		{"train only", data.ClassFiles{Lenses: []string{"2.npy"}, NonLenses: []string{"3.npy"}}, ""},
		{"a test image", data.ClassFiles{Lenses: []string{"2.npy", "7.npy"}, NonLenses: []string{"3.npy"}},
			"1 of its 3 images are in val or test, first lenses/7.npy (test)"},
		{"a val image", data.ClassFiles{Lenses: []string{"1.npy"}, NonLenses: []string{"6.npy", "3.npy"}},
			"first nonlenses/6.npy (val)"},
		{"wrong class", data.ClassFiles{Lenses: []string{"3.npy"}, NonLenses: []string{}}, "lenses/3.npy is in no split"},
		{"twice", data.ClassFiles{Lenses: []string{"1.npy", "1.npy"}, NonLenses: []string{}}, "lenses/1.npy is listed twice"},
		{"empty", data.ClassFiles{Lenses: []string{}, NonLenses: []string{}}, "no images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "subset.json")
			if err := data.WriteSubsetJSON(path, tc.cf); err != nil {
				t.Fatal(err)
			}
			got, _, err := labelledTrain(config.FinetuneArgs{Labels: "300", SubsetFile: path}, s)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want == "" && !reflect.DeepEqual(got, tc.cf):
				t.Errorf("got %+v", got)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path)):
				t.Errorf("err = %v, want %q naming the file", err, tc.want)
			}
		})
	}
}

func TestSetAddNormalisesAndChecksShape(t *testing.T) {
	norm := augment.Normalization{Mean: [3]float32{1, 2, 3}, Std: [3]float32{2, 4, 0.5}}
	s := NewSet(2)
	im := data.NewImage(3, 2, 2)
	for i := range im.Pix {
		im.Pix[i] = float32(i)
	}
	if err := s.Add("a", 1, im, norm); err != nil {
		t.Fatal(err)
	}
	want := []float32{-0.5, 0, 0.5, 1, 0.5, 0.75, 1, 1.25, 10, 12, 14, 16}
	if !slices.Equal(s.Images(0, 1), want) {
		t.Errorf("normalised %v, want %v", s.Images(0, 1), want)
	}
	if im.Pix[0] != 0 {
		t.Error("Add changed its input")
	}
	for _, bad := range []data.Image{data.NewImage(3, 3, 3), data.NewImage(1, 2, 2)} {
		if err := s.Add("bad.npy", 0, bad, norm); err == nil || !strings.Contains(err.Error(), "bad.npy") {
			t.Errorf("%dx%dx%d: err = %v", bad.C, bad.H, bad.W, err)
		}
	}
	if s.Len() != 1 || len(s.Pix) != 12 {
		t.Errorf("after refusals: %d images, %d floats", s.Len(), len(s.Pix))
	}
}
