package data

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// badDataset writes a dataset with one of each kind of bad entry.
func badDataset(t *testing.T) string {
	dir := t.TempDir()
	good := EncodeNPY(testImage(3, 6, 6))
	nan := testImage(3, 6, 6)
	nan.Pix[3*6+3] = float32(math.NaN())
	cube := make([]float32, 3*6*6)
	files := map[string][]byte{
		"lenses/good1.npy":    good,
		"lenses/good2.fits":   fitsBytes(t, fitsHDU{bitpix: -32, axes: []int{6, 6, 3}, data: cube}),
		"lenses/dup.npy":      good,
		"lenses/trunc.npy":    good[:100],
		"lenses/onechan.npy":  EncodeNPY(testImage(1, 6, 6)),
		"lenses/nan.npy":      EncodeNPY(nan),
		"lenses/small.npy":    EncodeNPY(testImage(3, 3, 3)),
		"lenses/notes.txt":    []byte("hello"),
		"nonlenses/good3.npy": good,
		"nonlenses/dup.npy":   good,
		"nonlenses/bad.png":   []byte("\x89PNG\r\n\x1a\nnope"),
	}
	for name, b := range files {
		writeFile(t, filepath.Join(dir, name), b)
	}
	if err := os.Mkdir(filepath.Join(dir, "lenses", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestScanBadDataset(t *testing.T) {
	dir := badDataset(t)
	splits := &Splits{
		Train: ClassFiles{Lenses: []string{"good1.npy", "good2.fits", "trunc.npy"}, NonLenses: []string{"good3.npy", "dup.npy", "bad.png"}},
		Val:   ClassFiles{Lenses: []string{"missing.npy", "good1.npy"}},
	}
	rep, err := Scan(dir, ScanOptions{
		ReadOptions: ReadOptions{Crop: 4},
		Splits:      splits,
		Subsets: []Subset{
			{Name: "leaky", Files: ClassFiles{Lenses: []string{"good2.fits", "missing.npy"}, NonLenses: []string{"good3.npy"}}},
			{Name: "clean", Files: ClassFiles{Lenses: []string{"good2.fits"}, NonLenses: []string{"good3.npy"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantBad := map[string]string{
		"lenses/nan.npy":     "non-finite pixels: 1 of 48 pixels are NaN or Inf (first NaN in band g at y=2, x=2)",
		"lenses/notes.txt":   "not an image file",
		"lenses/onechan.npy": "wrong shape: want 3 channels (g, r, i), got 1",
		"lenses/small.npy":   "smaller than the crop: image is 3x3, crop is 4x4",
		"lenses/sub/":        "a folder inside a class folder",
		"lenses/trunc.npy":   "corrupt: npy",
		"nonlenses/bad.png":  "corrupt: reading PNG or JPEG: unexpected EOF",
	}
	var files []string
	for _, b := range rep.Bad {
		files = append(files, b.File)
		if !strings.Contains(b.Reason, wantBad[b.File]) || wantBad[b.File] == "" {
			t.Errorf("%s: reason %q, want %q", b.File, b.Reason, wantBad[b.File])
		}
	}
	if len(files) != len(wantBad) {
		t.Errorf("bad files %q, want the %d of %v", files, len(wantBad), wantBad)
	}
	wantClasses := []ClassReport{{Class: "lenses", Present: true, Good: 3, Bad: 6}, {Class: "nonlenses", Present: true, Good: 2, Bad: 1}}
	if !reflect.DeepEqual(rep.Classes, wantClasses) {
		t.Errorf("classes %+v, want %+v", rep.Classes, wantClasses)
	}
	if !reflect.DeepEqual(rep.DuplicateNames, []string{"dup.npy"}) {
		t.Errorf("duplicate names %q", rep.DuplicateNames)
	}
	sr := rep.Splits
	if !reflect.DeepEqual(sr.Missing, []SplitFile{{Split: "val", File: "lenses/missing.npy"}}) {
		t.Errorf("missing %+v", sr.Missing)
	}
	if !reflect.DeepEqual(sr.Duplicates, []Duplicate{{File: "lenses/good1.npy", Splits: []string{"train", "val"}}}) {
		t.Errorf("duplicates %+v", sr.Duplicates)
	}
	if want := []string{"lenses/dup.npy", "lenses/nan.npy", "lenses/onechan.npy", "lenses/small.npy"}; !reflect.DeepEqual(sr.Unassigned, want) {
		t.Errorf("unassigned %q, want %q", sr.Unassigned, want)
	}
	if want := []SplitSize{{"train", 3, 3, 0}, {"val", 2, 0, 0}, {"test", 0, 0, 0}}; !reflect.DeepEqual(sr.Sizes, want) {
		t.Errorf("sizes %+v", sr.Sizes)
	}
	wantSubs := []SubsetReport{
		{Name: "leaky", Lenses: 2, NonLenses: 1, InTrain: 2, InVal: 1, Missing: 1},
		{Name: "clean", Lenses: 1, NonLenses: 1, Balanced: true, InTrain: 2},
	}
	if !reflect.DeepEqual(rep.Subsets, wantSubs) {
		t.Errorf("subsets %+v, want %+v", rep.Subsets, wantSubs)
	}
	// Errors: 7 bad files, 1 missing, 1 duplicate, and the leaky subset is
	// unbalanced, leaks and misses a file. Warnings: 1 name in both classes
	// and 4 unassigned files.
	if rep.Errors != 12 || rep.Warnings != 5 {
		t.Errorf("errors %d, warnings %d; want 12, 5", rep.Errors, rep.Warnings)
	}

	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"lenses:    3 good, 6 bad",
		"  lenses/onechan.npy: wrong shape: want 3 channels (g, r, i), got 1\n",
		"warning: names in both lenses and nonlenses (1):\n  dup.npy\n",
		"splits (lenses/nonlenses): train 3/3 val 2/0 test 0/0",
		"    lenses/missing.npy (val)\n",
		"    lenses/good1.npy in train, val\n",
		"  warning: in no split (4):",
		"subset leaky: 3 images (2 lenses, 1 nonlenses, UNBALANCED); in train 2, in val 1, in test 0, in no split 0, missing on disk 1\n",
		"12 errors, 5 warnings\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestScanEmptyClassAndReplace(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lenses"), 0o755); err != nil {
		t.Fatal(err)
	}
	im := testImage(3, 4, 4)
	im.Pix[5], im.Pix[20] = float32(math.Inf(1)), float32(math.NaN())
	writeFile(t, filepath.Join(dir, "nonlenses", "x.npy"), EncodeNPY(im))
	for _, replace := range []bool{false, true} {
		rep, err := Scan(dir, ScanOptions{ReadOptions: ReadOptions{ReplaceNonFinite: replace}})
		if err != nil {
			t.Fatal(err)
		}
		want := []ClassReport{{Class: "lenses", Present: true}, {Class: "nonlenses", Present: true, Bad: 1}}
		wantErrors := 2 // the empty folder and the bad file
		if replace {
			want[1] = ClassReport{Class: "nonlenses", Present: true, Good: 1, Replaced: 2}
			wantErrors = 1
		}
		if !reflect.DeepEqual(rep.Classes, want) || rep.Errors != wantErrors || rep.Splits != nil {
			t.Errorf("replace=%v: classes %+v errors %d, want %+v and %d", replace, rep.Classes, rep.Errors, want, wantErrors)
		}
	}
	if _, err := Scan(filepath.Join(dir, "absent"), ScanOptions{}); err == nil {
		t.Error("absent DIR: no error")
	}
}

// TestScanUnlabelled: a dataset of unlabelled cutouts (imported survey
// data) needs no lenses/ or nonlenses/; its files and splits are checked
// like the others'.
func TestScanUnlabelled(t *testing.T) {
	dir := t.TempDir()
	good := EncodeNPY(testImage(3, 40, 40))
	writeFile(t, filepath.Join(dir, "unlabelled", "a.npy"), good)
	writeFile(t, filepath.Join(dir, "unlabelled", "b.npy"), good)
	writeFile(t, filepath.Join(dir, "unlabelled", "c.npy"), good[:50])
	s := Splits{Train: ClassFiles{Unlabelled: []string{"a.npy", "c.npy"}}, Test: ClassFiles{Unlabelled: []string{"x.npy"}}}
	rep, err := Scan(dir, ScanOptions{ReadOptions: ReadOptions{Crop: 32}, Splits: &s})
	if err != nil {
		t.Fatal(err)
	}
	want := []ClassReport{{Class: "lenses", Optional: true}, {Class: "nonlenses", Optional: true}, {Class: "unlabelled", Present: true, Good: 2, Bad: 1}}
	if !reflect.DeepEqual(rep.Classes, want) {
		t.Errorf("classes %+v, want %+v", rep.Classes, want)
	}
	// c.npy is bad and x.npy missing: 2 errors; b.npy in no split: 1 warning.
	if rep.Errors != 2 || rep.Warnings != 1 || rep.Splits.Sizes[0].Unlabelled != 2 {
		t.Errorf("%d errors, %d warnings, sizes %+v", rep.Errors, rep.Warnings, rep.Splits.Sizes)
	}
	var text strings.Builder
	rep.WriteText(&text)
	for _, w := range []string{"lenses:    none (an unlabelled dataset)", "unlabelled: 2 good, 1 bad", "splits (lenses/nonlenses/unlabelled): train 0/0/2"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, text.String())
		}
	}
}

// TestScanSeedSubsetLeaks checks the seed's labelled subsets against its
// splits with no images at all: they were drawn from an older split.
func TestScanSeedSubsetLeaks(t *testing.T) {
	s, err := ReadSplits("testdata/seed/indices.pkl")
	if err != nil {
		t.Fatal(err)
	}
	opt := ScanOptions{ReadOptions: ReadOptions{Crop: 32}, Splits: &s}
	for _, n := range []int{300, 600, 1200} {
		cf, err := ReadSubset(fmt.Sprintf("testdata/seed/train_indices_%d.pkl", n))
		if err != nil {
			t.Fatal(err)
		}
		opt.Subsets = append(opt.Subsets, Subset{Name: fmt.Sprint(n), Files: cf})
	}
	rep, err := Scan(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{"300": {26, 47}, "600": {62, 90}, "1200": {103, 188}} // val, test
	for _, sub := range rep.Subsets {
		if got := [2]int{sub.InVal, sub.InTest}; got != want[sub.Name] || !sub.Balanced || sub.Missing != sub.Lenses+sub.NonLenses {
			t.Errorf("subset %s: val/test %v (want %v), balanced %v, missing %d", sub.Name, got, want[sub.Name], sub.Balanced, sub.Missing)
		}
	}
	if len(rep.Splits.Missing) != 2333+1530+259+170+458+300 || rep.Classes[0].Present || rep.Classes[1].Present {
		t.Errorf("%d missing, classes %+v: want every image missing", len(rep.Splits.Missing), rep.Classes)
	}
	if len(rep.DuplicateNames) != 205 {
		t.Errorf("%d names under both classes in the seed splits, want 205", len(rep.DuplicateNames))
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "lenses/ folder missing: all 3050 of its files\n") || strings.Contains(buf.String(), "(train)\n") {
		t.Errorf("absent folders should be summed up, not listed:\n%.2000s", buf.String())
	}
}

func TestOpenDatasetLoad(t *testing.T) {
	dir := badDataset(t)
	d, err := OpenDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dup.npy", "good1.npy", "good2.fits", "nan.npy", "onechan.npy", "small.npy", "trunc.npy"}; !reflect.DeepEqual(d.Files.Lenses, want) {
		t.Errorf("lenses %q", d.Files.Lenses)
	}
	if want := []string{"lenses/notes.txt", "lenses/sub/"}; !reflect.DeepEqual(d.Other, want) {
		t.Errorf("other %q", d.Other)
	}
	ims, labels, err := d.Load(ClassFiles{Lenses: []string{"good1.npy"}, NonLenses: []string{"good3.npy", "dup.npy"}}, ReadOptions{Crop: 4})
	if err != nil || len(ims) != 3 || !reflect.DeepEqual(labels, []Label{Lens, NonLens, NonLens}) || ims[2].H != 4 {
		t.Errorf("Load: %d images, labels %v, err %v", len(ims), labels, err)
	}
	if _, _, err := d.Load(ClassFiles{Lenses: []string{"trunc.npy"}}, ReadOptions{}); err == nil || !strings.Contains(err.Error(), "lenses/trunc.npy") {
		t.Errorf("Load of a bad file: %v", err)
	}
}
