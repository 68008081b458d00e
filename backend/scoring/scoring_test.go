package scoring

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/astrogo/fitsio"

	"github.com/sslens/sslens/backend/data"
)

// cutouts writes n 3 x 8 x 8 .npy cutouts into dir/a and dir/b (the k-th
// filled with k/n), and a corrupt one, bad.npy, after the fifth; it
// returns their paths in the order Inputs walks dir.
func cutouts(t *testing.T, dir string, n int) []string {
	t.Helper()
	var paths []string
	for k := range n {
		sub := "a"
		if k >= n/2 {
			sub = "b"
		}
		p := filepath.Join(dir, sub, fmt.Sprintf("c%05d.npy", k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		im := data.NewImage(3, 8, 8)
		for i := range im.Pix {
			im.Pix[i] = float32(k) / float32(n)
		}
		if err := data.WriteNPY(p, im); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		if k == 5 {
			bad := filepath.Join(dir, sub, fmt.Sprintf("c%05d.npy.bad.npy", k))
			if err := os.WriteFile(bad, []byte("not an array"), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, bad)
		}
	}
	return paths
}

// meanModel scores an image by its mean pixel, squashed: P = sigmoid(4m-2).
func meanModel(values int) func([]float32) ([]float64, error) {
	return func(pix []float32) ([]float64, error) {
		var out []float64
		for i := 0; i < len(pix); i += values {
			var s float64
			for _, v := range pix[i : i+values] {
				s += float64(v)
			}
			out = append(out, 1/(1+math.Exp(-(4*s/float64(values)-2))))
		}
		return out, nil
	}
}

func options(out string) Options {
	return Options{Out: out, Batch: 4, Workers: 3, Read: data.ReadOptions{Crop: 8},
		Prepare: func(im data.Image) ([]float32, error) { return im.Pix, nil }, Predict: meanModel(3 * 8 * 8)}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func inputsOf(args ...string) func(func(string) error) error {
	return func(yield func(string) error) error { return Inputs(args, nil, yield) }
}

// TestRunScoresInOrderAndRanks: scores.csv holds every input in walk
// order (the corrupt file with its error), ranked.csv the scored ones by
// P(lens), highest first, with consecutive ranks.
func TestRunScoresInOrderAndRanks(t *testing.T) {
	dir := t.TempDir()
	paths := cutouts(t, filepath.Join(dir, "in"), 23)
	out := filepath.Join(dir, "out")
	p, err := Run(context.Background(), inputsOf(filepath.Join(dir, "in")), options(out))
	if err != nil {
		t.Fatal(err)
	}
	if p.Scored != 23 || p.Failed != 1 || p.Resumed != 0 || p.Total != 24 || p.Left() != 0 || p.Rate() <= 0 {
		t.Errorf("progress %+v", p)
	}
	rows := readCSV(t, filepath.Join(out, ScoresFile))
	if !slices.Equal(rows[0], scoresHeader) || len(rows) != len(paths)+1 {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	for i, r := range rows[1:] {
		if r[0] != paths[i] {
			t.Fatalf("row %d is %s, want %s (input order)", i, r[0], paths[i])
		}
		if bad := strings.HasSuffix(r[0], ".bad.npy"); bad != (r[4] != "") || bad != (r[1] == "") {
			t.Errorf("row %v: a failure must have an error and no score, a success the reverse", r)
		}
	}
	ranked := readCSV(t, filepath.Join(out, RankedFile))
	if len(ranked) != 24 || !slices.Equal(ranked[0], rankedHeader) {
		t.Fatalf("ranking of %d rows", len(ranked)-1)
	}
	for i, r := range ranked[1:] {
		if r[0] != strconv.Itoa(i+1) || r[1] != paths[len(paths)-1-i] && i < 17 {
			t.Errorf("rank %d: %v (the brightest cutouts first)", i+1, r)
		}
	}
	if _, err := Run(context.Background(), inputsOf(filepath.Join(dir, "in")), options(out)); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("scoring into a used folder: %v", err)
	}
}

// TestResume: a run stopped after its first batches, with a row cut short
// as a crash leaves it, resumes to exactly what an uninterrupted run
// writes.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	cutouts(t, in, 30)
	want := filepath.Join(dir, "straight")
	if _, err := Run(context.Background(), inputsOf(in), options(want)); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dir, "resumed")
	ctx, cancel := context.WithCancel(context.Background())
	opt := options(got)
	opt.Progress = func(p Progress) {
		if p.Scored+p.Failed >= 8 {
			cancel()
		}
	}
	if _, err := Run(ctx, inputsOf(in), opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(got, ScoresFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`"half a row`)
	f.Close()
	opt = options(got)
	opt.Resume = true
	p, err := Run(context.Background(), inputsOf(in), opt)
	if err != nil {
		t.Fatal(err)
	}
	if p.Resumed < 8 || p.Resumed+p.Scored+p.Failed != 31 || p.Total != 31 {
		t.Errorf("resumed run %+v, want the first rows skipped and the rest scored", p)
	}
	if rec, err := ReadProgress(got); err != nil || !rec.Finished || rec.Done() != 31 || rec.Total != 31 || rec.Resumed != p.Resumed {
		t.Errorf("%s: %+v (%v), want the finished run's %+v", ProgressFile, rec, err, p)
	}
	for _, name := range []string{ScoresFile, RankedFile} {
		a, _ := os.ReadFile(filepath.Join(want, name))
		b, _ := os.ReadFile(filepath.Join(got, name))
		if string(a) != string(b) {
			t.Errorf("%s differs from the uninterrupted run's", name)
		}
	}
}

// TestShardsMerge: three shards score disjoint thirds of the inputs, and
// their rankings merge into the single run's ranking; the external sort
// spills to several runs on the way.
func TestShardsMerge(t *testing.T) {
	defer func(n int) { sortChunk = n }(sortChunk)
	sortChunk = 5
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	paths := cutouts(t, in, 40)
	whole := filepath.Join(dir, "whole")
	if _, err := Run(context.Background(), inputsOf(in), options(whole)); err != nil {
		t.Fatal(err)
	}
	var rankings []string
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		opt := options(filepath.Join(dir, fmt.Sprint("shard", i)))
		opt.Shard, opt.Shards = i, 3
		if _, err := Run(context.Background(), inputsOf(in), opt); err != nil {
			t.Fatal(err)
		}
		for k, r := range readCSV(t, filepath.Join(opt.Out, ScoresFile))[1:] {
			seen[r[0]]++
			if want := paths[3*k+i-1]; r[0] != want {
				t.Fatalf("shard %d row %d is %s, want %s", i, k, r[0], want)
			}
		}
		rankings = append(rankings, filepath.Join(opt.Out, RankedFile))
	}
	if len(seen) != len(paths) {
		t.Errorf("the shards scored %d of %d inputs", len(seen), len(paths))
	}
	merged := filepath.Join(dir, "merged.csv")
	if err := Merge(merged, rankings); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(whole, RankedFile))
	b, _ := os.ReadFile(merged)
	if string(a) != string(b) {
		t.Errorf("merged shards:\n%s\nwhole run:\n%s", b, a)
	}
	if err := Merge(merged, []string{filepath.Join(whole, ScoresFile)}); err == nil || !strings.Contains(err.Error(), "not a ranking") {
		t.Errorf("merging a scores file: %v", err)
	}
	opt := options(filepath.Join(dir, "bad"))
	opt.Shard, opt.Shards = 4, 3
	if _, err := Run(context.Background(), inputsOf(in), opt); err == nil || !strings.Contains(err.Error(), "shard 4 of 3") {
		t.Errorf("shard 4 of 3: %v", err)
	}
}

// TestPositions: a FITS cutout with a WCS gets its centre's RA and Dec in
// both files (astropy's, from the fixture's script).
func TestPositions(t *testing.T) {
	fixture := filepath.Join("..", "data", "testdata", "surveys", "legacy-rig.fits")
	b, err := os.ReadFile(filepath.Join("..", "data", "testdata", "surveys", "surveys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		RADec [2]float64 `json:"radec"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	opt := options(out)
	opt.Read.Crop = 0
	opt.Predict = func(pix []float32) ([]float64, error) { return []float64{0.7}, nil }
	if _, err := Run(context.Background(), inputsOf(fixture), opt); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ScoresFile, RankedFile} {
		row := readCSV(t, filepath.Join(out, name))[1]
		ra, dec := row[len(row)-2], row[len(row)-1]
		if name == ScoresFile {
			ra, dec = row[2], row[3]
		}
		gotRA, _ := strconv.ParseFloat(ra, 64)
		gotDec, _ := strconv.ParseFloat(dec, 64)
		if w := want["legacy-rig"].RADec; math.Abs(gotRA-w[0]) > 1e-4 || math.Abs(gotDec-w[1]) > 1e-4 {
			t.Errorf("%s: position %s, %s; astropy says %v", name, ra, dec, w)
		}
	}
}

// TestInputs: folders are walked in name order (links followed), globs match in name order
// without descending past their depth, list files skip blanks and
// comments and take relative paths from their own folder, and a missing
// file is passed on to be reported.
func TestInputs(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"x/b.npy", "x/a.fits", "x/notes.txt", "x/deep/c.npy", "y/d.npy"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), nil, 0o644)
	}
	if err := os.Symlink(filepath.Join(dir, "y/d.npy"), filepath.Join(dir, "x/link.npy")); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "lists", "list.txt")
	os.MkdirAll(filepath.Dir(list), 0o755)
	os.WriteFile(list, []byte("# survey\n"+filepath.Join(dir, "y/d.npy")+"\n\n  ../missing.npy \n"), 0o644)
	var got []string
	err := Inputs([]string{filepath.Join(dir, "x"), filepath.Join(dir, "*", "*.npy")}, []string{list}, func(p string) error {
		got = append(got, strings.TrimPrefix(p, dir+"/"))
		return nil
	})
	want := []string{"x/a.fits", "x/b.npy", "x/deep/c.npy", "x/link.npy", "x/b.npy", "x/link.npy", "y/d.npy", "y/d.npy", "missing.npy"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("inputs %v (%v), want %v", got, err, want)
	}
	if err := Inputs([]string{filepath.Join(dir, "z*", "*.npy")}, nil, func(string) error { return nil }); err == nil || !strings.Contains(err.Error(), "no file matches") {
		t.Errorf("a glob matching nothing: %v", err)
	}
	if err := Inputs(nil, []string{filepath.Join(dir, "nolist.txt")}, func(string) error { return nil }); err == nil {
		t.Error("a missing list file passed")
	}
}

// TestRankedVOTable: ranked.vot holds ranked.csv's rows, empty cells
// where a cutout has no position; a ranking longer than the VOTable limit
// gets none, and loses one an earlier, shorter ranking left.
func TestRankedVOTable(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	cutouts(t, in, 12)
	out := filepath.Join(dir, "out")
	if _, err := Run(context.Background(), inputsOf(in), options(out)); err != nil {
		t.Fatal(err)
	}
	want := readCSV(t, filepath.Join(out, RankedFile))[1:]
	b, err := os.ReadFile(filepath.Join(out, RankedVOTable))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Fields []struct {
			Name     string `xml:"name,attr"`
			Datatype string `xml:"datatype,attr"`
		} `xml:"RESOURCE>TABLE>FIELD"`
		Rows []struct {
			TD []string `xml:"TD"`
		} `xml:"RESOURCE>TABLE>DATA>TABLEDATA>TR"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Fields) != 5 || doc.Fields[1].Name != "file" || doc.Fields[1].Datatype != "unicodeChar" || doc.Fields[2].Datatype != "double" {
		t.Errorf("fields %+v", doc.Fields)
	}
	if len(doc.Rows) != len(want) || len(want) == 0 {
		t.Fatalf("%d rows, ranked.csv has %d", len(doc.Rows), len(want))
	}
	for i, r := range doc.Rows {
		if !slices.Equal(r.TD, want[i]) {
			t.Errorf("row %d: %q, ranked.csv %q", i+1, r.TD, want[i])
		}
	}
	defer func(n int) { votableMaxRows = n }(votableMaxRows)
	votableMaxRows = len(want) - 1
	if got, err := WriteTables(filepath.Join(out, RankedFile), nil); err != nil || len(got) != 1 || filepath.Base(got[0]) != RankedFITS {
		t.Errorf("above the limit: wrote %q (%v), want ranked.fits alone", got, err)
	}
	if _, err := os.Stat(filepath.Join(out, RankedVOTable)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the earlier ranked.vot is still there: %v", err)
	}
}

// TestRankedFITS: ranked.fits, read back with astrogo/fitsio, holds
// ranked.csv's rows and columns, NaN where a cutout has no position.
func TestRankedFITS(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	cutouts(t, in, 12)
	fixture := filepath.Join("..", "data", "testdata", "surveys", "legacy-rig.fits")
	out := filepath.Join(dir, "out")
	opt := options(out)
	opt.Read.Crop = 8
	opt.Comments = []string{"model: a test"}
	if _, err := Run(context.Background(), inputsOf(in, fixture), opt); err != nil {
		t.Fatal(err)
	}
	want := readCSV(t, filepath.Join(out, RankedFile))[1:]
	f, err := os.Open(filepath.Join(out, RankedFITS))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ff, err := fitsio.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	tab, ok := ff.HDU(1).(*fitsio.Table)
	if !ok || tab.Name() != "SCORES" || tab.NumRows() != int64(len(want)) || tab.NumCols() != 5 {
		t.Fatalf("extension 1 is %T, want the SCORES table of %d rows", ff.HDU(1), len(want))
	}
	rows, err := tab.Read(0, tab.NumRows())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	positions := 0
	for i := 0; rows.Next(); i++ {
		var rank int64
		var file string
		var prob, ra, dec float64
		if err := rows.Scan(&rank, &file, &prob, &ra, &dec); err != nil {
			t.Fatal(err)
		}
		w := want[i]
		wp, _ := strconv.ParseFloat(w[2], 64)
		if strconv.FormatInt(rank, 10) != w[0] || strings.TrimRight(file, "\x00 ") != w[1] || prob != wp {
			t.Errorf("row %d: %d %q %g, ranked.csv %v", i, rank, file, prob, w)
		}
		if w[3] == "" {
			if !math.IsNaN(ra) || !math.IsNaN(dec) {
				t.Errorf("row %d without a position: %g, %g", i, ra, dec)
			}
			continue
		}
		positions++
		if wr, _ := strconv.ParseFloat(w[3], 64); ra != wr {
			t.Errorf("row %d: ra %g, ranked.csv %s", i, ra, w[3])
		}
	}
	if positions != 1 {
		t.Errorf("%d rows with positions, want the FITS cutout's", positions)
	}
}
