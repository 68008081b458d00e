package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
)

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWriteDatasetLayoutAndDeterminism(t *testing.T) {
	cfg := testConfig(t, "small")
	cfg.Counts = Counts{Train: SplitCounts{5, 4}, Val: SplitCounts{2, 2}, Test: SplitCounts{3, 2}}
	var trees []map[string][]byte
	var dir string
	for _, workers := range []int{1, 3} {
		cfg.Workers = workers
		dir = t.TempDir()
		calls, last := 0, 0
		sum, err := WriteDataset(dir, cfg, func(done, total int) {
			calls++
			if done != last+1 || total != 18 {
				t.Errorf("progress(%d, %d) after %d", done, total, last)
			}
			last = done
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 18 || sum.Images != 18 || sum.Lenses != 10 || sum.NonLenses != 8 {
			t.Errorf("workers %d: %d progress calls, summary %+v", workers, calls, sum)
		}
		trees = append(trees, readTree(t, dir))
	}
	a, b := trees[0], trees[1]
	if len(a) != len(b) {
		t.Fatalf("1 worker wrote %d files, 3 workers %d", len(a), len(b))
	}
	for name, content := range a {
		if !bytes.Equal(content, b[name]) {
			t.Errorf("%s differs between 1 and 3 workers", name)
		}
	}

	// Splits name every image once, in the class folder it is in.
	var splits data.Splits
	if err := json.Unmarshal(a["splits.json"], &splits); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, name := range data.SplitNames {
		cf := splits.Split(name)
		want := cfg.Counts.splits()[i]
		if len(cf.Lenses) != want.Lenses || len(cf.NonLenses) != want.NonLenses {
			t.Errorf("split %s: %d lenses, %d non-lenses; want %+v", name, len(cf.Lenses), len(cf.NonLenses), want)
		}
		for _, l := range []data.Label{data.Lens, data.NonLens} {
			for _, f := range cf.Files(l) {
				if seen[f] {
					t.Errorf("%s named twice", f)
				}
				seen[f] = true
				if _, ok := a[filepath.Join(data.ClassDirs[l], f)]; !ok {
					t.Errorf("split %s lists %s/%s, which was not written", name, data.ClassDirs[l], f)
				}
				n, err := strconv.Atoi(strings.TrimSuffix(f, ".npy"))
				if err != nil || n < 0 || n >= 18 || !strings.HasSuffix(f, ".npy") {
					t.Errorf("file name %q is not <int>.npy with a small integer", f)
				}
			}
		}
	}
	if len(seen) != 18 || len(a) != 18+3 {
		t.Errorf("%d images in splits, %d files; want 18 and 21", len(seen), len(a))
	}
	if p := a["indices.pkl"]; len(p) < 3 || p[0] != 0x80 || p[len(p)-1] != '.' {
		t.Errorf("indices.pkl is not a pickle")
	}
	// Files hold exactly what Render gives.
	for _, i := range []int{0, 9, 17} {
		im, p, err := Render(cfg, i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a[filepath.Join(data.ClassDirs[p.Label], p.File)], data.EncodeNPY(im)) {
			t.Errorf("image %d: file differs from Render", i)
		}
	}

	header, _, _ := strings.Cut(string(a[layout.MetadataCSV]), "\n")
	if want := "file,class,split,kind," + strings.Join(metadataParams, ",") + ",contaminants"; header != want {
		t.Errorf("metadata.csv header %q, want %q", header, want)
	}
	meta, err := layout.Dataset(dir).ReadMetadata()
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Images) != 18 || !slices.Equal(meta.Params, metadataParams) {
		t.Fatalf("metadata.csv: %d rows, columns %v", len(meta.Images), meta.Params)
	}
	for _, im := range meta.Images {
		_, hasThetaE := im.Params["theta_e"]
		isLens := im.Class == "lenses"
		if isLens != (im.Kind == KindLens) || isLens != hasThetaE {
			t.Errorf("%s/%s: class, kind and lens columns disagree", im.Class, im.File)
		}
		if _, ok := im.Params["seeing_i"]; !ok {
			t.Errorf("%s/%s: seeing missing", im.Class, im.File)
		}
		if _, ok := im.Params["lens_mag_i"]; !ok {
			t.Errorf("%s/%s: lens magnitudes missing", im.Class, im.File)
		}
	}

	if _, err := WriteDataset(filepath.Join(t.TempDir(), "x", "\x00"), cfg, nil); err == nil {
		t.Error("writing to an impossible path succeeded")
	}
}

// The small preset, as the CLI writes it: its flux scale matches the real
// data's, and its images are what presets.yaml asks for.
func TestSmallDataset(t *testing.T) {
	cfg := testConfig(t, "small")
	dir := t.TempDir()
	sum, err := WriteDataset(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	real := [3]float64{0.1995, 0.6668, 1.2940}
	for c := range real {
		if r := sum.CropMean[c] / real[c]; !(r > 0.5 && r < 2) {
			t.Errorf("band %s: centre-crop mean %.4f, %.2f times the real data's %.4f", data.Bands[c], sum.CropMean[c], r, real[c])
		}
	}
	t.Logf("centre-crop mean %.4f, real %.4f; mean std %.4f", sum.CropMean, real, sum.CropStd)

	meta, err := layout.Dataset(dir).ReadMetadata()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	contaminants := map[string]int{}
	pop := cfg.Population
	for _, im := range meta.Images {
		kind := im.Kind
		kinds[kind]++
		for _, c := range im.Contaminants {
			name, _, _ := strings.Cut(c, "(")
			contaminants[name+"/"+im.Class]++
		}
		col := func(name string) float64 {
			v, ok := im.Params[name]
			if !ok {
				t.Fatalf("%s: no %s", im.File, name)
			}
			return v
		}
		if kind != KindLens {
			continue
		}
		if mu := col("magnification"); !(mu >= pop.Source.MinMagnification) {
			t.Errorf("%s: magnification %.2f below %g", im.File, mu, pop.Source.MinMagnification)
		}
		if te, lim := col("theta_e"), pop.Mass.ThetaERange; !(te >= lim[0] && te <= lim[1]) {
			t.Errorf("%s: theta_E %.2f outside %v", im.File, te, lim)
		}
		// theta_E follows from the velocity dispersion and the redshifts
		// (metadata.csv keeps about 5 significant digits).
		if te, want := col("theta_e"), EinsteinRadius(col("lens_sigma_v"), col("lens_z"), col("src_z")); !(math.Abs(te/want-1) < 1e-3) {
			t.Errorf("%s: theta_E %.4f, the SIS radius of sigma and the redshifts is %.4f", im.File, te, want)
		}
		if snr := col("arc_snr"); !(snr >= pop.Source.MinSNR) {
			t.Errorf("%s: arc S/N %.1f below %g", im.File, snr, pop.Source.MinSNR)
		}
		// Jacobs et al. colour cuts for lens galaxies.
		g, r, i := col("lens_mag_g"), col("lens_mag_r"), col("lens_mag_i")
		if !(g-i > 1.8 && g-i < 5 && g-r > 0.6 && g-r < 3) {
			t.Errorf("%s: lens colours g-i %.2f, g-r %.2f outside the red-galaxy cuts", im.File, g-i, g-r)
		}
		// The source is bluer than the lens.
		if sg, si := col("src_mag_g"), col("src_mag_i"); !(sg-si < g-i) {
			t.Errorf("%s: source g-i %.2f not bluer than the lens's %.2f", im.File, sg-si, g-i)
		}
	}
	for _, k := range nonLensKinds {
		if kinds[k] == 0 {
			t.Errorf("no %s among the non-lenses (%v)", k, kinds)
		}
	}
	for _, c := range []string{"galaxy/lenses", "galaxy/nonlenses", "star/lenses", "star/nonlenses"} {
		if contaminants[c] == 0 {
			t.Errorf("no %s contaminant (%v)", c, contaminants)
		}
	}
	if contaminants["bad_column/lenses"]+contaminants["bad_column/nonlenses"] == 0 ||
		contaminants["bright_star/lenses"]+contaminants["bright_star/nonlenses"] == 0 {
		t.Errorf("no bad columns or bright stars in %d images (%v)", len(meta.Images), contaminants)
	}
}
