package dataimport

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/sky"
)

// The fixtures in testdata are written by numpy and astropy (gen.py).

func importFixture(t *testing.T, source string, opt Options) (*Report, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "imported")
	rep, err := Import(context.Background(), source, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	return rep, out
}

func badFiles(rep *Report) map[string]string {
	out := map[string]string{}
	for _, b := range rep.Bad {
		out[b.File] = b.Reason
	}
	return out
}

func readSplits(t *testing.T, dir string) data.Splits {
	t.Helper()
	sp, err := data.ReadSplits(filepath.Join(dir, layout.SplitsJSON))
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// TestImportReferenceLayout imports the reference layout: its indices.pkl
// (numpy str arrays) gives the splits, the float64 Fortran-ordered .npy
// becomes the canonical float32 one with the same values, the truncated
// file is listed and the name listed but absent is counted.
func TestImportReferenceLayout(t *testing.T) {
	rep, out := importFixture(t, "testdata/reference", Options{})
	if !rep.Labelled || rep.Imported != 12 || rep.Lenses != 6 || rep.NonLenses != 6 || rep.Unlabelled != 0 {
		t.Errorf("imported %d (%d lenses, %d non-lenses, %d unlabelled), labelled %t; want 12 (6, 6, 0), labelled",
			rep.Imported, rep.Lenses, rep.NonLenses, rep.Unlabelled, rep.Labelled)
	}
	if reason, ok := badFiles(rep)["lenses/bad.npy"]; !ok || len(rep.Bad) != 1 {
		t.Errorf("bad files %+v, want lenses/bad.npy alone", rep.Bad)
	} else if !strings.Contains(reason, "corrupt") && !strings.Contains(reason, "npy") {
		t.Errorf("reason for lenses/bad.npy: %q", reason)
	}
	if rep.SplitsFrom != "indices.pkl" || rep.ListedNotImported != 1 || rep.InNoSplit != 0 {
		t.Errorf("splits from %q, %d listed not imported, %d in no split; want indices.pkl, 1 (99.npy), 0",
			rep.SplitsFrom, rep.ListedNotImported, rep.InNoSplit)
	}
	sp := readSplits(t, out)
	if !slices.Equal(sp.Train.Lenses, []string{"0.npy", "1.npy", "2.npy", "3.npy"}) || !slices.Equal(sp.Val.NonLenses, []string{"14.npy"}) ||
		!slices.Equal(sp.Test.Lenses, []string{"5.npy"}) || sp.Train.Unlabelled != nil {
		t.Errorf("splits %+v", sp)
	}
	for _, name := range []string{"0.npy", "1.npy"} {
		got, err := data.ReadImage(filepath.Join(out, "lenses", name), data.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := data.ReadImage(filepath.Join("testdata/reference/lenses", name), data.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.C != 3 || got.H != 32 || !slices.Equal(got.Pix, want.Pix) {
			t.Errorf("%s: canonical copy (%d, %d, %d) differs from the source", name, got.C, got.H, got.W)
		}
	}
	if rep.Stats.Count != 8 || rep.Stats.Crop != DefaultCrop || !(rep.Stats.Std[0] > 0.05 && rep.Stats.Std[0] < 0.2) {
		t.Errorf("stats %+v: want 8 train cutouts at 32 px, std near 0.1", rep.Stats)
	}
	// Computed from the decoded cutouts: the numbers training computes
	// from the stored ones, and the cache it reads.
	for what, stats := range map[string]func(string, data.Splits, int) (data.Stats, error){
		"computed": func(dir string, s data.Splits, crop int) (data.Stats, error) {
			return data.ComputeStats(dir, s.Train, crop)
		},
		"cached": data.LoadStats,
	} {
		if st, err := stats(out, sp, DefaultCrop); err != nil || st != rep.Stats {
			t.Errorf("stats %s %+v (%v), report %+v", what, st, err, rep.Stats)
		}
	}
	meta, err := layout.Dataset(out).ReadMetadata()
	if err != nil || len(meta.Images) != 12 {
		t.Fatalf("metadata: %d rows, %v", len(meta.Images), err)
	}
	row := meta.Images[0]
	if row.File != "0.npy" || row.Class != "lenses" || row.Split != "train" || row.Text["source"] != "lenses/0.npy" ||
		len(row.Text["sha256"]) != 64 || row.Params["height"] != 32 {
		t.Errorf("first metadata row %+v", row)
	}
	for _, name := range []string{layout.ImportReportJSON, layout.ImportReportText} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}

// TestImportFITSTree imports an unlabelled tree of astropy FITS cubes:
// broken files listed with their reasons, a duplicate by content found
// across formats, the same object and a group of neighbours found from the
// WCS, and the group kept in one split.
func TestImportFITSTree(t *testing.T) {
	rep, out := importFixture(t, "testdata/fits-tree", Options{})
	if rep.Labelled || rep.Imported != 5 || rep.Unlabelled != 5 {
		t.Errorf("imported %d (%d unlabelled), labelled %t; want 5 unlabelled", rep.Imported, rep.Unlabelled, rep.Labelled)
	}
	bad := badFiles(rep)
	for file, want := range map[string]string{
		"tract2/broken.fits":  "",
		"tract2/twoband.fits": "",
		"tract2/nan.fits":     "non-finite",
		"tract2/small.fits":   "smaller than the 32x32 crop",
	} {
		reason, ok := bad[file]
		if !ok || !strings.Contains(reason, want) {
			t.Errorf("%s: reason %q (listed %t), want one with %q", file, reason, ok, want)
		}
	}
	if len(bad) != 4 {
		t.Errorf("bad files %+v, want 4", rep.Bad)
	}
	if len(rep.ContentDuplicates) != 1 || rep.ContentDuplicates[0] != (Duplicate{File: "tract2/obj6.npy", SameAs: "tract1/patchB/obj4.fits"}) {
		t.Errorf("content duplicates %+v", rep.ContentDuplicates)
	}
	if rep.Files != 10 {
		t.Errorf("%d files read, want 10 (the text file and the hidden file left out)", rep.Files)
	}
	if rep.Positioned != 5 || len(rep.SameObject) != 1 || rep.Groups != 1 || rep.Grouped != 3 {
		t.Errorf("%d positioned, same object %+v, %d groups of %d; want 5, obj1-obj2, 1 of 3", rep.Positioned, rep.SameObject, rep.Groups, rep.Grouped)
	} else if p := rep.SameObject[0]; p.A != "unlabelled/tract1__patchA__obj1.npy" || p.B != "unlabelled/tract1__patchA__obj2.npy" || math.Abs(p.Arcsec-0.5) > 0.01 {
		t.Errorf("same object %+v, want obj1 and obj2 0.5\" apart", p)
	}
	meta, err := layout.Dataset(out).ReadMetadata()
	if err != nil {
		t.Fatal(err)
	}
	split := map[string]string{}
	for _, row := range meta.Images {
		split[row.File] = row.Split
		if row.File == "tract1__patchA__obj1.npy" {
			pos := sky.Position{RA: row.Params["ra"], Dec: row.Params["dec"]}
			if sep := sky.Separation(pos, sky.Position{RA: 150, Dec: 2}); sep > 0.01 || row.Text["position_from"] != "WCS" ||
				row.Text["object"] != "J150.0000+2.0000" {
				t.Errorf("obj1: %+v, %.3f\" from its WCS centre", row, sep)
			}
		}
	}
	if s := split["tract1__patchA__obj1.npy"]; s == "" || split["tract1__patchA__obj2.npy"] != s || split["tract1__patchB__obj3.npy"] != s {
		t.Errorf("the group of obj1, obj2, obj3 is split: %v", split)
	}
	sp := readSplits(t, out)
	if sp.Train.Len()+sp.Val.Len()+sp.Test.Len() != 5 || len(sp.Train.Unlabelled) == 0 {
		t.Errorf("splits %+v", sp)
	}
	ds, err := data.OpenDataset(out)
	if err != nil || len(ds.Files.Unlabelled) != 5 || len(ds.Missing) != 2 {
		t.Errorf("dataset: %+v, %v", ds, err)
	}
}

// TestImportArchives imports the same nested folders from a zip and a
// gzipped tar: the same dataset either way.
func TestImportArchives(t *testing.T) {
	var first []string
	for _, src := range []string{"testdata/archive.zip", "testdata/archive.tar.gz"} {
		rep, out := importFixture(t, src, Options{Seed: 3})
		if !rep.Labelled || rep.Lenses != 2 || rep.NonLenses != 1 || len(rep.Bad) != 0 || rep.SplitsFrom != "drawn" {
			t.Errorf("%s: %d lenses, %d non-lenses, bad %+v, splits %q", src, rep.Lenses, rep.NonLenses, rep.Bad, rep.SplitsFrom)
		}
		ds, err := data.OpenDataset(out)
		if err != nil {
			t.Fatal(err)
		}
		names := append(append([]string(nil), ds.Files.Lenses...), ds.Files.NonLenses...)
		if !slices.Equal(names, []string{"c.npy", "tile1__a.npy", "tile1__b.npy"}) {
			t.Errorf("%s: names %v", src, names)
		}
		b, err := os.ReadFile(filepath.Join(out, layout.SplitsJSON))
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = append(names, string(b))
		} else if !slices.Equal(first, append(names, string(b))) {
			t.Errorf("zip and tar give different datasets: %v vs %v", first, append(names, string(b)))
		}
	}
}

// TestDrawSplits checks drawn splits on 2000 cutouts in groups of 1 to 4:
// shares within a group's size of the target per class, no group in two
// splits, and the same splits from a shuffled source.
func TestDrawSplits(t *testing.T) {
	var cuts []cutout
	var groups []int
	for g := 0; len(cuts) < 2000; g++ {
		for k := range g%4 + 1 {
			label := data.NonLens
			if g%3 == 0 {
				label = data.Lens
			}
			cuts = append(cuts, cutout{label: label, file: fmt.Sprintf("%d-%d.npy", g, k)})
			groups = append(groups, g)
		}
	}
	fr := DefaultFractions
	got := drawSplits(cuts, groups, fr, 1)
	for _, l := range []data.Label{data.Lens, data.NonLens} {
		var n int
		count := map[data.SplitName]int{}
		for i, c := range cuts {
			if c.label == l {
				n++
				count[got[i]]++
			}
		}
		for s, name := range data.SplitNames {
			if want := fr[s] * float64(n); math.Abs(float64(count[name])-want) > 4 {
				t.Errorf("%s %s: %d, want %.0f", data.ClassDirs[l], name, count[name], want)
			}
		}
	}
	where := map[int]data.SplitName{}
	for i, g := range groups {
		if s, ok := where[g]; ok && s != got[i] {
			t.Fatalf("group %d in %s and %s", g, s, got[i])
		}
		where[g] = got[i]
	}
	// Reversed source order, group ids renumbered: the same splits by name.
	n := len(cuts)
	rev, revGroups := make([]cutout, n), make([]int, n)
	for i := range cuts {
		rev[n-1-i], revGroups[n-1-i] = cuts[i], 7*groups[i]+5
	}
	again := drawSplits(rev, revGroups, fr, 1)
	for i := range cuts {
		if again[n-1-i] != got[i] {
			t.Fatalf("%s: %s from the reversed source, %s from the source", cuts[i].file, again[n-1-i], got[i])
		}
	}
	other := drawSplits(cuts, groups, fr, 2)
	if slices.Equal(other, got) {
		t.Error("seeds 1 and 2 draw the same splits")
	}
}

// TestImportRefusals: what an import refuses, and that a failed import
// leaves no dataset behind.
func TestImportRefusals(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	allBad := filepath.Join(dir, "allbad")
	os.MkdirAll(allBad, 0o755)
	os.WriteFile(filepath.Join(allBad, "a.npy"), []byte("not a numpy file"), 0o644)
	rar := filepath.Join(dir, "x.rar")
	os.WriteFile(rar, []byte("Rar!"), 0o644)
	notZip := filepath.Join(dir, "x.zip")
	os.WriteFile(notZip, []byte("not a zip"), 0o644)
	for _, tc := range []struct {
		name, source, out string
		opt               Options
		want              string
	}{
		{"out not empty", "testdata/reference", full, Options{}, "is not empty"},
		{"no source", filepath.Join(dir, "missing"), "", Options{}, "no such file"},
		{"unknown archive", rar, "", Options{}, "not a folder, .zip, .tar"},
		{"not a zip", notZip, "", Options{}, "not a readable zip archive"},
		{"nothing good", allBad, "", Options{}, "no cutout could be imported (1 files, 1 bad, 0 duplicates); the first, a.npy:"},
		{"fractions", "testdata/reference", "", Options{Fractions: [3]float64{0, 1, 1}}, "the train share must be positive"},
		{"radii", "testdata/reference", "", Options{SameObject: 5, GroupRadius: 2}, "want 0 < same-object <= group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out
			if out == "" {
				out = filepath.Join(t.TempDir(), "out")
			}
			_, err := Import(context.Background(), tc.source, out, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if tc.out == "" {
				for _, p := range []string{out, out + ".importing"} {
					if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("%s left behind (%v)", p, err)
					}
				}
			}
		})
	}
}

// TestImportMixedTree refuses the files outside lenses/ and nonlenses/ of
// a labelled source, and a cancelled import leaves nothing.
func TestImportMixedTree(t *testing.T) {
	src := t.TempDir()
	for _, name := range []string{"lenses/a.npy", "nonlenses/b.npy", "extra/c.npy"} {
		b, _ := os.ReadFile("testdata/reference/lenses/" + map[byte]string{'l': "1.npy", 'n': "2.npy", 'e': "3.npy"}[name[0]])
		os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	rep, out := importFixture(t, src, Options{})
	if reason := badFiles(rep)["extra/c.npy"]; !strings.Contains(reason, "not under a lenses/ or nonlenses/ folder") || rep.Imported != 2 {
		t.Errorf("imported %d, extra/c.npy: %q", rep.Imported, reason)
	}
	if _, err := os.Stat(filepath.Join(out, layout.UnlabelledDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unlabelled/ kept in a labelled dataset: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out = filepath.Join(t.TempDir(), "out")
	if _, err := Import(ctx, "testdata/fits-tree", out, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := os.Stat(out + ".importing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cancelled import left %s.importing", out)
	}
}

// TestImportCorruptArchives: a zip member whose checksum fails is listed
// as bad and the rest imported; a tar cut short fails the import by name.
func TestImportCorruptArchives(t *testing.T) {
	good, err := os.ReadFile("testdata/reference/lenses/1.npy")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := os.ReadFile("testdata/reference/lenses/2.npy")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range map[string][]byte{"lenses/1.npy": good, "lenses/2.npy": other} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		w.Write(b)
	}
	zw.Close()
	z := buf.Bytes()
	z[bytes.Index(z, good[200:240])] ^= 0xff // 1.npy's stored bytes, not its CRC
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "bad.zip")
	os.WriteFile(zipPath, z, 0o644)
	rep, _ := importFixture(t, zipPath, Options{})
	if reason := badFiles(rep)["lenses/1.npy"]; !strings.Contains(reason, "checksum") || rep.Imported != 1 {
		t.Errorf("imported %d, lenses/1.npy: %q", rep.Imported, reason)
	}

	tgz, _ := os.ReadFile("testdata/archive.tar.gz")
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tarBytes, _ := io.ReadAll(gz)
	cut := filepath.Join(dir, "cut.tar")
	os.WriteFile(cut, tarBytes[:3000], 0o644)
	_, err = Import(context.Background(), cut, filepath.Join(dir, "out"), Options{})
	if err == nil || !strings.Contains(err.Error(), "cut.tar: not a readable tar archive") {
		t.Errorf("a tar cut short: %v", err)
	}
}
