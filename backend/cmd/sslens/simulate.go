package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/render"
	"github.com/sslens/sslens/backend/sim"
)

func init() {
	register(command{
		name:    "simulate",
		summary: "simulate a strong-lensing dataset (lenses/ and nonlenses/ .npy cutouts, splits, metadata)",
		usage:   "[flags]",
		run:     runSimulate,
	})
}

// Real-data reference for the flux scale check printed at the end: the
// seed's per-band mean over the train centre crops.
var realCropMean = [3]float64{0.1995, 0.6668, 1.2940}

// previewPerClass is how many images of each class the preview grid shows.
const previewPerClass = 8

func runSimulate(fs *flag.FlagSet, args []string) error {
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
	if err := prepareOutDir(*out, *force); err != nil {
		return err
	}

	progress := func(done, total int) {}
	var bar *progressbar.ProgressBar
	if isTerminal(os.Stderr) {
		bar = progressbar.NewOptions(cfg.Counts.Total(),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("simulate"),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		progress = func(done, total int) { bar.Set(done) }
	}
	start := time.Now()
	sum, err := sim.WriteDataset(*out, cfg, progress)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Printf("wrote %d images (%d lenses, %d non-lenses) to %s in %.1fs\n",
		sum.Images, sum.Lenses, sum.NonLenses, *out, elapsed.Seconds())
	fmt.Printf("centre %dx%d crops, per band g r i:\n", sim.CropSize, sim.CropSize)
	fmt.Printf("  mean       %.4f %.4f %.4f  (real data %.4f %.4f %.4f)\n",
		sum.CropMean[0], sum.CropMean[1], sum.CropMean[2], realCropMean[0], realCropMean[1], realCropMean[2])
	fmt.Printf("  mean std   %.4f %.4f %.4f\n", sum.CropStd[0], sum.CropStd[1], sum.CropStd[2])
	if *preview != "" {
		if err := writePreview(*preview, cfg); err != nil {
			return err
		}
		fmt.Printf("preview: %s\n", *preview)
	}
	return nil
}

// prepareOutDir refuses a non-empty dir unless force, and with force removes
// only what a previous simulation wrote there, so stale images of a larger
// dataset cannot linger.
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
	for _, name := range []string{data.ClassDirs[data.Lens], data.ClassDirs[data.NonLens], "indices.pkl", "splits.json", "metadata.csv"} {
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

// writePreview renders the first lenses and non-lenses of the dataset (the
// same images as the files) as labelled Lupton composites in a grid, lenses
// on top.
func writePreview(path string, cfg sim.Config) error {
	const upscale = 3
	var lenses, others []render.Tile
	for i := 0; i < cfg.Counts.Total() && (len(lenses) < previewPerClass || len(others) < previewPerClass); i++ {
		_, label, err := cfg.Counts.Locate(i)
		if err != nil {
			return err
		}
		if (label == data.Lens && len(lenses) == previewPerClass) || (label == data.NonLens && len(others) == previewPerClass) {
			continue
		}
		im, p, err := sim.Render(cfg, i)
		if err != nil {
			return err
		}
		tile := render.Tile{Img: render.Upscale(render.Lupton(im, render.DefaultLupton()), upscale), Label: previewLabel(p)}
		if label == data.Lens {
			lenses = append(lenses, tile)
		} else {
			others = append(others, tile)
		}
	}
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
