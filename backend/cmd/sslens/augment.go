package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"os"
	"slices"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/render"
	"github.com/sslens/sslens/backend/ssl"
)

func init() {
	register(command{
		name:    "augment",
		summary: "draw a cutout and the augmented views a config trains on, as one PNG",
		usage: `--config C --image F --out views.png [--seed N] [--norm-from DIR]

C is a YAML experiment config (the seed's format): its 'ssl augmentation
kwargs' section sets the views, and for iBOT the 'network' section's pred_*
keys the masks. F is one (3,H,W) g,r,i cutout. The picture shows F, its
centre crop when F is larger, and every view as a Lupton asinh composite,
de-normalised so colours compare, enlarged to a common size; iBOT's masked
patches are shaded cyan. The same --seed draws the same views.`,
		run: func(fs *flag.FlagSet, args []string) error { return runAugment(fs, args, os.Stdout) },
	})
}

// sheetCols is the number of tiles per row of the picture.
const sheetCols = 6

func runAugment(fs *flag.FlagSet, args []string, w io.Writer) error {
	configPath := fs.String("config", "", "YAML config file (required)")
	imagePath := fs.String("image", "", "cutout to augment: .npy, FITS, PNG or JPEG (required)")
	out := fs.String("out", "", "PNG file to write (required)")
	seed := fs.Uint64("seed", 0, "seed of the random draws")
	normFrom := fs.String("norm-from", "", "dataset folder whose train split (DIR/splits.json or DIR/indices.pkl, else all its images) gives the normalisation; default the seed's statistics")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *configPath == "" || *imagePath == "" || *out == "" {
		fmt.Fprintln(fs.Output(), "sslens augment: --config, --image and --out are required, and nothing else")
		return errUsage
	}
	conf, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	for _, w := range conf.Warnings {
		fmt.Fprintf(fs.Output(), "warning: %s\n", w)
	}
	cfg, mc := conf.Augmentation, conf.Network.MaskConfig
	norm := augment.SeedNormalization()
	if *normFrom != "" {
		if norm, err = datasetNormalization(*normFrom, cfg.CenterCrop); err != nil {
			return err
		}
	}
	p, err := augment.NewPipeline(cfg, mc, norm)
	if err != nil {
		return err
	}
	im, err := data.ReadImage(*imagePath, data.ReadOptions{})
	if err != nil {
		return err
	}
	views, err := p.Apply(context.Background(), im, augment.SampleRNG(*seed, 0, 0))
	if err != nil {
		return fmt.Errorf("%s: %w", *imagePath, err)
	}
	sheet, err := viewSheet(im, cfg.CenterCrop, views, mc.PatchSize, p.Method(), norm)
	if err != nil {
		return err
	}
	if err := render.WritePNG(*out, sheet); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %s, %d global and %d local views, %d masks\n", *out, cfg.Augmentation, len(views.Global), len(views.Local), len(views.Masks))
	return nil
}

// datasetNormalization returns the normalisation of dir's train split at
// the centre crop, through the data package's cached statistics; a folder
// without a splits file counts all its images as train.
func datasetNormalization(dir string, crop int) (augment.Normalization, error) {
	var s data.Splits
	if path := data.SplitsFile(dir); path != "" {
		var err error
		if s, err = data.ReadSplits(path); err != nil {
			return augment.Normalization{}, err
		}
	} else {
		ds, err := data.OpenDataset(dir)
		if err != nil {
			return augment.Normalization{}, err
		}
		s.Train = ds.Files
	}
	n, err := ssl.StatsNormalization(dir, s, crop)
	if err != nil {
		return augment.Normalization{}, fmt.Errorf("%s: %w", dir, err)
	}
	return n, nil
}

// viewSheet draws the input, its centre crop when it is larger, and every
// view, enlarged by whole factors to one tile size (the input to at most
// that size): global views (with their masks) on the first row, local views
// on the rows below.
func viewSheet(im data.Image, crop int, v augment.Views, patch int, m augment.Method, norm augment.Normalization) (*image.RGBA, error) {
	sizes := []int{crop}
	for _, view := range slices.Concat(v.Global, v.Local) {
		sizes = append(sizes, view.H)
	}
	tileSize := commonTileSize(sizes)
	lupton := render.DefaultLupton()
	tile := func(x data.Image) *image.RGBA {
		return render.Upscale(render.Lupton(x, lupton), max(1, tileSize/max(x.H, x.W)))
	}
	tiles := []render.Tile{{Img: tile(im), Label: fmt.Sprintf("input %dx%d", im.H, im.W)}}
	if im.H != crop || im.W != crop {
		cc, err := data.CenterCrop(im, crop, crop)
		if err != nil {
			return nil, err
		}
		tiles = append(tiles, render.Tile{Img: tile(cc), Label: fmt.Sprintf("centre %d", crop)})
	}
	for i, view := range v.Global {
		flux := data.Image{C: view.C, H: view.H, W: view.W, Pix: slices.Clone(view.Pix)}
		if err := augment.Denormalize(flux, norm); err != nil {
			return nil, err
		}
		t := render.Tile{Img: tile(flux), Label: fmt.Sprintf("global %d", i+1)}
		switch m {
		case augment.MethodSimSiam:
			t.Label = fmt.Sprintf("view %d", i+1)
		case augment.MethodNone:
			t.Label = "eval crop"
		}
		if i < len(v.Masks) {
			n := shadeMask(t.Img.(*image.RGBA), v.Masks[i], view.H/patch, patch*(tileSize/view.H))
			t.Label += fmt.Sprintf(", %d masked", n)
		}
		tiles = append(tiles, t)
	}
	for len(v.Local) > 0 && len(tiles)%sheetCols != 0 {
		tiles = append(tiles, render.Tile{}) // start the local views on a new row
	}
	for i, view := range v.Local {
		flux := data.Image{C: view.C, H: view.H, W: view.W, Pix: slices.Clone(view.Pix)}
		if err := augment.Denormalize(flux, norm); err != nil {
			return nil, err
		}
		tiles = append(tiles, render.Tile{Img: tile(flux), Label: fmt.Sprintf("local %d", i+1)})
	}
	return render.Grid(tiles, sheetCols, 4), nil
}

// commonTileSize returns a tile side of at least 128 px that every size
// divides, so each picture is enlarged by a whole factor; when the sizes
// have no such multiple below 512 px it returns 160 and the tiles differ a
// little.
func commonTileSize(sizes []int) int {
	l := 1
	for _, s := range sizes {
		l = l / gcd(l, s) * s
		if l > 512 {
			return 160
		}
	}
	return l * ((128 + l - 1) / l)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// shadeMask shades the masked patches of a grid x grid mask on img, whose
// patches are px pixels a side, and returns how many it shaded.
func shadeMask(img *image.RGBA, mask []bool, grid, px int) int {
	shade := image.NewUniform(color.NRGBA{R: 0, G: 255, B: 255, A: 80})
	n := 0
	for i, masked := range mask {
		if !masked {
			continue
		}
		y, x := i/grid*px, i%grid*px
		draw.Draw(img, image.Rect(x, y, x+px, y+px), shade, image.Point{}, draw.Over)
		n++
	}
	return n
}
