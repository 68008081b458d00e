package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/dataimport"
	"github.com/sslens/sslens/backend/scoring"
)

func init() {
	register(command{
		name:    "import-data",
		summary: "import survey cutouts (a folder, .zip or .tar[.gz]) as a dataset: validated, de-duplicated, split",
		usage: `SOURCE --out DIR [--seed N] [--splits TRAIN,VAL,TEST] [--same-object ARCSEC]
       [--group-radius ARCSEC] [--crop PX] [--z-as-i] [--progress-file PATH]

SOURCE is a folder or a .zip, .tar, .tar.gz or .tgz archive of cutouts
(.npy, FITS, .fits.gz, PNG). Files under a folder called lenses or
nonlenses are labelled; a source without such folders is unlabelled (for
pretraining). Each cutout is validated with the readers uploads use and
stored in DIR (which must not exist or be empty) as a (3, H, W) float32
.npy in lenses/, nonlenses/ or unlabelled/, with metadata.csv (source path,
OBJECT, sky position, content hash). Bad files are listed with their
reasons and skipped; files with the pixels of an earlier one are listed
as duplicates and skipped; cutouts closer than --same-object are reported
and those linked within --group-radius are kept in one split. A labelled
source's indices.pkl or splits.json is kept; otherwise splits are drawn
with --seed in the --splits shares (default the reference dataset's
0.765, 0.085, 0.15). DIR gets splits.json, the train split's normalisation
statistics and import-report.json and .txt. --progress-file is rewritten
every 2 s with the files read so far (JSON), for whoever follows the import.`,
		run: func(fs *flag.FlagSet, args []string) error {
			return interruptible(func(ctx context.Context) error { return runImportData(ctx, fs, args, processEnv()) })
		},
	})
}

func runImportData(ctx context.Context, fs *flag.FlagSet, args []string, e env) error {
	var opt dataimport.Options
	out := fs.String("out", "", "dataset `DIR` to write (required; must not exist or be empty)")
	fs.Uint64Var(&opt.Seed, "seed", 0, "seed `N` of drawn splits")
	splits := fs.String("splits", "", "`TRAIN,VAL,TEST` shares of drawn splits (default the reference dataset's)")
	fs.Float64Var(&opt.SameObject, "same-object", dataimport.DefaultSameObject, "`ARCSEC` within which two cutouts are reported as one object")
	fs.Float64Var(&opt.GroupRadius, "group-radius", dataimport.DefaultGroupRadius, "`ARCSEC` within which cutouts are kept in one split")
	fs.IntVar(&opt.Crop, "crop", dataimport.DefaultCrop, "smallest side in `PX` a cutout must have (the models' input)")
	fs.BoolVar(&opt.ZAsI, "z-as-i", false, "read a z band as i (Legacy Surveys g, r, z cutouts)")
	progressFile := fs.String("progress-file", "", "`PATH` of a JSON progress file to rewrite every 2 s")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return usage(fs, "want one SOURCE and --out DIR")
	}
	if *splits != "" {
		parts := strings.Split(*splits, ",")
		if len(parts) != 3 {
			return usage(fs, "--splits %q: want three shares, TRAIN,VAL,TEST", *splits)
		}
		for i, p := range parts {
			if opt.Fractions[i], err = strconv.ParseFloat(strings.TrimSpace(p), 64); err != nil {
				return usage(fs, "--splits %q: %q is not a number", *splits, p)
			}
		}
	}
	tell, finish := progressBar(-1, "import")
	var written time.Time
	var last dataimport.Progress
	var writeErr error
	opt.Progress = func(p dataimport.Progress) {
		if tell != nil {
			tell(p.Files, p.Total)
		}
		last = p
		if *progressFile != "" && writeErr == nil && time.Since(written) >= scoring.DefaultProgressEvery {
			written, writeErr = time.Now(), dataimport.WriteProgress(*progressFile, p)
		}
	}
	rep, err := dataimport.Import(ctx, pos[0], *out, opt)
	finish()
	if *progressFile != "" && writeErr == nil {
		writeErr = dataimport.WriteProgress(*progressFile, last)
	}
	if writeErr != nil {
		fmt.Fprintf(e.stderr, "sslens import-data: progress file: %v\n", writeErr)
	}
	if err != nil {
		return err
	}
	rep.WriteText(e.stdout)
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return nil
}
