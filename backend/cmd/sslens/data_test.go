package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
)

const seedDir = "../../data/testdata/seed"

// runDataCmd runs `sslens data ARGS...` and returns stdout, stderr and the error.
func runDataCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	fs := newFlagSet(commands["data"], &errOut)
	err := runData(fs, args, &out)
	return out.String(), errOut.String(), err
}

func TestDataCheckSeedSubsets(t *testing.T) {
	dir := t.TempDir() // no images: the overlaps come from the pickles alone
	args := []string{"check", dir, "--splits", seedDir + "/indices.pkl", "--subset", seedDir + "/train_indices_300.pkl",
		seedDir + "/train_indices_600.pkl", seedDir + "/train_indices_1200.pkl"}
	out, _, err := runDataCmd(t, args...)
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "errors") {
		t.Fatalf("err = %v, want a failure counting errors", err)
	}
	for _, want := range []string{
		"lenses:    folder missing",
		"splits (lenses/nonlenses): train 2333/1530 val 259/170 test 458/300",
		"subset train_indices_300.pkl: 300 images (150 lenses, 150 nonlenses, balanced); in train 227, in val 26, in test 47",
		"subset train_indices_600.pkl: 600 images (300 lenses, 300 nonlenses, balanced); in train 448, in val 62, in test 90",
		"subset train_indices_1200.pkl: 1200 images (600 lenses, 600 nonlenses, balanced); in train 909, in val 103, in test 188",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	out, _, err = runDataCmd(t, append(args, "--json")...)
	if err == nil {
		t.Fatal("--json: no failure")
	}
	var rep data.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var got [][2]int
	for _, s := range rep.Subsets {
		got = append(got, [2]int{s.InVal, s.InTest})
	}
	if want := [][2]int{{26, 47}, {62, 90}, {103, 188}}; !reflect.DeepEqual(got, want) {
		t.Errorf("JSON val/test overlaps %v, want %v", got, want)
	}
}

// cleanDataset writes a small valid dataset with splits.json and returns it.
func cleanDataset(t *testing.T, lenses, nonlenses int) (string, data.Splits) {
	dir := t.TempDir()
	var s data.Splits
	im := data.NewImage(3, 6, 6)
	for i := range im.Pix {
		im.Pix[i] = float32(i % 7)
	}
	for _, c := range []struct {
		l data.Label
		n int
	}{{data.Lens, lenses}, {data.NonLens, nonlenses}} {
		if err := os.MkdirAll(filepath.Join(dir, data.ClassDirs[c.l]), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range c.n {
			name := data.ClassDirs[c.l][:1] + strconv.Itoa(i) + ".npy"
			if err := data.WriteNPY(filepath.Join(dir, data.ClassDirs[c.l], name), im); err != nil {
				t.Fatal(err)
			}
			split := &s.Train
			switch i % 5 {
			case 3:
				split = &s.Val
			case 4:
				split = &s.Test
			}
			if c.l == data.Lens {
				split.Lenses = append(split.Lenses, name)
			} else {
				split.NonLenses = append(split.NonLenses, name)
			}
		}
	}
	if err := data.WriteSplitsJSON(filepath.Join(dir, "splits.json"), s); err != nil {
		t.Fatal(err)
	}
	return dir, s
}

func TestDataCheckClean(t *testing.T) {
	dir, _ := cleanDataset(t, 5, 5)
	out, _, err := runDataCmd(t, "check", dir, "--crop", "4")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "lenses:    5 good, 0 bad") || !strings.Contains(out, "0 errors, 0 warnings") {
		t.Errorf("output:\n%s", out)
	}
	// A crop larger than the images makes every file bad.
	if out, _, err = runDataCmd(t, "check", dir, "--crop", "8"); err == nil || !strings.Contains(out, "lenses:    0 good, 5 bad") {
		t.Errorf("crop 8: err %v\n%s", err, out)
	}
}

func TestDataUsage(t *testing.T) {
	dir, _ := cleanDataset(t, 1, 1)
	cases := [][]string{
		{},
		{"frobnicate"},
		{"check"},
		{"check", dir, "--nonfinite", "maybe"},
		{"check", dir, "--crop", "-1"},
		{"stats"},
		{"subsets", dir, "--sizes", "4,x"},
	}
	for _, args := range cases {
		_, _, err := runDataCmd(t, args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want errUsage", args, err)
		}
	}
	var out, errOut bytes.Buffer
	if code := runMain([]string{"data", "check", dir, "--nonfinite", "maybe"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `--nonfinite "maybe": want reject or zero`) {
		t.Errorf("exit %d, stderr %q; want 2 and the reason", code, errOut.String())
	}
}

func TestDataSubsets(t *testing.T) {
	dir, s := cleanDataset(t, 30, 30) // 18 of each class in train
	out := filepath.Join(t.TempDir(), "subsets")
	stdout, _, err := runDataCmd(t, "subsets", dir, "--sizes", "8,20", "--seed", "5", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "train_indices_20.pkl and .json: 10 lenses, 10 nonlenses") {
		t.Errorf("output %q", stdout)
	}
	want, err := data.DrawSubsets(s.Train, []int{8, 20}, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"8", "20"} {
		for _, ext := range []string{".pkl", ".json"} {
			got, err := data.ReadSubset(filepath.Join(out, "train_indices_"+n+ext))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want[i]) {
				t.Errorf("%s%s: %+v, want %+v", n, ext, got, want[i])
			}
		}
	}
	// The written subsets pass the check: balanced, in train only.
	if _, _, err := runDataCmd(t, "check", dir, "--crop", "4", filepath.Join(out, "train_indices_8.pkl"), filepath.Join(out, "train_indices_20.json")); err != nil {
		t.Errorf("check of the drawn subsets: %v", err)
	}
	if _, _, err := runDataCmd(t, "subsets", dir, "--sizes", "38", "--out", out); err == nil || !strings.Contains(err.Error(), "the train split has 18") {
		t.Errorf("too large: %v", err)
	}

	// Train sharing a file with test: drawing would leak, so it is refused.
	s.Test.Lenses = append(s.Test.Lenses, s.Train.Lenses[0])
	leaky := filepath.Join(t.TempDir(), "leaky.json")
	if err := data.WriteSplitsJSON(leaky, s); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runDataCmd(t, "subsets", dir, "--splits", leaky, "--out", out); err == nil || !strings.Contains(err.Error(), "1 train files are also in val or test") {
		t.Errorf("leaky splits: %v", err)
	}
}

func TestDataStats(t *testing.T) {
	dir, _ := cleanDataset(t, 5, 5)
	out, _, err := runDataCmd(t, "stats", dir, "--crop", "4")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "6 images, crop 4") || !strings.Contains(out, filepath.Join(dir, layout.StatsFile)) {
		t.Errorf("output:\n%s", out)
	}
	out, _, err = runDataCmd(t, "stats", dir, "--crop", "4", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st data.Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Count != 6 || st.Crop != 4 || st.Mean[0] <= 0 {
		t.Errorf("JSON %+v, %v", st, err)
	}
	if _, _, err := runDataCmd(t, "stats", t.TempDir()); err == nil || !strings.Contains(err.Error(), "pass --splits") {
		t.Errorf("no splits: %v", err)
	}
}
