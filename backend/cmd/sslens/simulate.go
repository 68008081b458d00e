package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/render"
	"github.com/sslens/sslens/backend/sim"
)

func init() {
	register(command{
		name:    "simulate",
		summary: "simulate a strong-lensing dataset (lenses/ and nonlenses/ .npy cutouts, splits, metadata)",
		usage:   "[flags]",
		run:     func(fs *flag.FlagSet, args []string) error { return runSimulate(fs, args, os.Stdout) },
	})
}

// previewPerClass is how many images of each class the preview grid shows.
const previewPerClass = 8

func runSimulate(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	presets, err := sim.DefaultPresets()
	if err != nil {
		return err
	}
	out := fs.String("out", "data/sim", "output `DIR`")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives byte-identical files")
	counts := fs.String("counts", "seed", "dataset size preset: "+strings.Join(sim.Names(presets.Counts), ", "))
	survey := fs.String("preset", "hsc", "survey preset: "+strings.Join(sim.Names(presets.Surveys), ", "))
	size := fs.Int("size", 64, "stamp side in `pixels`")
	workers := fs.Int("workers", 0, "images rendered in parallel (0: one per CPU)")
	preview := fs.String("preview", "", "also write a `PNG` grid of 8 lenses and 8 non-lenses")
	force := fs.Bool("force", false, "replace the dataset in a non-empty DIR")
	report := fs.String("report", "", "also measure the dataset's realism (arc S/N, noise, colours, lens mass, neighbours,\n"+
		"leakage, crop statistics) and write it as Markdown to `FILE.md` and as JSON beside it (FILE.json)")
	reportOnly := fs.Bool("report-only", false, "write only the --report, not the dataset: the images depend on --preset, --counts,\n"+
		"--seed and --size alone, so this measures the dataset those flags write (an existing one included)")
	reportEvery := fs.Int("report-every", 0, "measure every `K`-th image (0: about "+fmt.Sprint(reportSample)+" images)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return errUsage
	}
	cfg, err := presets.Config(*survey, *counts)
	if err != nil {
		return err
	}
	cfg.Seed, cfg.Size, cfg.Workers = *seed, *size, *workers
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *reportOnly {
		if *report == "" {
			return fmt.Errorf("--report-only needs --report FILE.md")
		}
		return writeReport(*report, cfg, *reportEvery, stdout)
	}
	if err := prepareOutDir(*out, *force); err != nil {
		return err
	}

	progress, finish := progressBar(cfg.Counts.Total(), "simulate")
	start := time.Now()
	sum, err := sim.WriteDataset(*out, cfg, progress)
	finish()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "wrote %d images (%d lenses, %d non-lenses) to %s in %.1fs\n",
		sum.Images, sum.Lenses, sum.NonLenses, *out, elapsed.Seconds())
	fmt.Fprintf(stdout, "centre %dx%d crops, per band g r i:\n", sim.CropSize, sim.CropSize)
	fmt.Fprintf(stdout, "  mean       %.4f %.4f %.4f  (real data %.4f %.4f %.4f)\n",
		sum.CropMean[0], sum.CropMean[1], sum.CropMean[2], sim.RealCropMean[0], sim.RealCropMean[1], sim.RealCropMean[2])
	fmt.Fprintf(stdout, "  mean std   %.4f %.4f %.4f\n", sum.CropStd[0], sum.CropStd[1], sum.CropStd[2])
	if *preview != "" {
		if err := writePreview(*preview, cfg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "preview: %s\n", *preview)
	}
	if *report != "" {
		return writeReport(*report, cfg, *reportEvery, stdout)
	}
	return nil
}

// reportSample is about how many images --report measures by default.
const reportSample = 500

// writeReport measures every every-th image of cfg's dataset (0: about
// reportSample of them) and writes the report as Markdown to path and as
// JSON to path with its extension replaced by .json.
func writeReport(path string, cfg sim.Config, every int, stdout io.Writer) error {
	if every <= 0 {
		every = (cfg.Counts.Total() + reportSample - 1) / reportSample
	}
	progress, finish := progressBar((cfg.Counts.Total()+every-1)/every, "measure")
	start := time.Now()
	rep, err := sim.Measure(cfg, every, progress)
	finish()
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	jsonPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".json"
	if jsonPath == path {
		return fmt.Errorf("report %s: name the Markdown file FILE.md, the JSON goes beside it", path)
	}
	if err := os.WriteFile(path, []byte(rep.Markdown()), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(stdout, "report: %s and %s (%d images measured in %.1fs)\n", path, jsonPath, rep.Images, time.Since(start).Seconds())
	return nil
}

// progressBar returns a progress callback drawing a bar on stderr when it is
// a terminal (nil otherwise) and the function that clears it.
func progressBar(total int, what string) (func(done, total int), func()) {
	if !isTerminal(os.Stderr) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
	return func(done, n int) {
		if n > 0 && n != total {
			total = n
			bar.ChangeMax(n)
		}
		bar.Set(done)
	}, func() { bar.Finish() }
}

// prepareOutDir refuses a non-empty dir unless force, and with force removes
// only what a previous simulation wrote there and the caches sslens keeps
// beside a dataset (.sslens-*), so neither stale images of a larger dataset
// nor statistics of the old one linger.
func prepareOutDir(dir string, force bool) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("%s is not empty (%d entries); use --force to replace the dataset there, or choose another --out", dir, len(ents))
	}
	remove := layout.DatasetFiles
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".sslens-") {
			remove = append(remove, e.Name())
		}
	}
	for _, name := range remove {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writePreview renders the first lenses of the dataset and a spread of
// non-lenses (the first of each kind, then the next ones) as labelled Lupton
// composites in a grid, lenses on top. They are the same images as the files.
func writePreview(path string, cfg sim.Config) error {
	const upscale, candidates = 3, 60
	tile := func(i int) (render.Tile, sim.Params, error) {
		im, p, err := sim.Render(cfg, i)
		if err != nil {
			return render.Tile{}, p, err
		}
		return render.Tile{Img: render.Upscale(render.Lupton(im, render.DefaultLupton()), upscale), Label: previewLabel(p)}, p, nil
	}
	var lenses, firsts, rest []render.Tile
	kinds := map[string]bool{}
	enough := func() bool {
		return len(lenses) == previewPerClass && len(firsts)+len(rest) >= previewPerClass &&
			(len(firsts) >= min(previewPerClass, len(cfg.Population.NonLens.Kinds)) || len(firsts)+len(rest) >= candidates)
	}
	for i := 0; i < cfg.Counts.Total() && !enough(); i++ {
		_, label, err := cfg.Counts.Locate(i)
		if err != nil {
			return err
		}
		if label == data.Lens && len(lenses) == previewPerClass {
			continue
		}
		t, p, err := tile(i)
		if err != nil {
			return err
		}
		switch {
		case label == data.Lens:
			lenses = append(lenses, t)
		case !kinds[p.Kind]:
			kinds[p.Kind] = true
			firsts = append(firsts, t)
		default:
			rest = append(rest, t)
		}
	}
	others := append(firsts, rest...)[:min(previewPerClass, len(firsts)+len(rest))]
	return render.WritePNG(path, render.Grid(append(lenses, others...), previewPerClass, 4))
}

// previewLabel is a tile caption: file, kind and the key parameters.
func previewLabel(p sim.Params) string {
	name := strings.TrimSuffix(p.File, ".npy")
	if p.Kind == sim.KindLens {
		return fmt.Sprintf("%s tE%.2f mu%.0f", name, p.ThetaE, p.Magnification)
	}
	return name + " " + p.Kind
}
