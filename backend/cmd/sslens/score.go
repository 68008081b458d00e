package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/ssl"
)

func init() {
	register(command{
		name:    "score",
		summary: "score cutouts with a classifier checkpoint: the lens probability of each file",
		usage: `--checkpoint C [--json | --csv] [--threshold P] FILE|DIR...
       sslens score --checkpoint C --out DIR [--list F]... [--shard I/N] [--resume] [FILE|DIR|GLOB]...
       sslens score --checkpoint C --out DIR --shards N --executor slurm [--slurm-...] [FILE|DIR|GLOB]...
       sslens score merge --out RANKED.csv DIR|RANKED.csv...

Each FILE (and each image file directly inside a DIR) is read as .npy, FITS,
PNG or JPEG, centre-cropped to the model's input size and normalised as the
model was trained. The table is sorted by P(lens), highest first. Files that
cannot be read are reported one by one on stderr while the rest are scored;
the exit status is then 1. PNG and JPEG lose the flux calibration: their
scores do not compare with those of .npy or FITS files.

With --out, a survey's worth of cutouts is scored in bounded memory: folders
are walked recursively, globs ('dir/*/*.fits', quoted) matched while walking,
list files (--list, one path per line, relative ones from the list's folder)
read as they go; decoding runs on every core beside the model. DIR/scores.csv
receives each cutout's row in input order as it is scored (file, lens_prob,
ra, dec when the cutout has a WCS or position keywords, error for one that
could not be read), so --resume after an interruption skips what it holds;
DIR/progress.json says how far it is. DIR/ranked.csv is the ranking, highest
P(lens) first, DIR/ranked.fits the same as a FITS binary table (RA and Dec
with their UCDs) and, up to 100,000 rows, DIR/ranked.vot as a VOTable.
--shard I/N scores inputs I, I+N, I+2N, ... of the same arguments (from 1),
so N jobs score a survey between them; score merge combines their rankings
into one (RANKED.csv, RANKED.fits, RANKED.vot). --shards N --executor slurm
(with serve's --slurm-* options) submits the N shards as Slurm jobs into
DIR/shards/I and merges them into DIR; run again, it follows or resubmits the
shards not finished.`,
		run: func(fs *flag.FlagSet, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if len(args) > 0 && args[0] == "merge" {
				return runScoreMerge(fs, args[1:], processEnv())
			}
			return runScore(ctx, fs, args, processEnv())
		},
	})
}

// score is one file's result.
type score struct {
	File     string  `json:"file"`
	LensProb float64 `json:"lens_prob"`
	Lens     bool    `json:"lens"` // LensProb >= the threshold
}

// scoreFailure is a file that could not be scored.
type scoreFailure struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

func runScore(ctx context.Context, fs *flag.FlagSet, args []string, e env) error {
	ckPath := fs.String("checkpoint", "", "classifier model.safetensors, its folder, or a run folder (required)")
	asJSON := fs.Bool("json", false, "print JSON: scores and failures")
	asCSV := fs.Bool("csv", false, "print CSV: file,lens_prob,lens")
	threshold := fs.Float64("threshold", 0.5, "P(lens) from which a cutout is called a lens")
	var st streamFlags
	st.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := checkDevice(st.device, st.shards <= 1); err != nil {
		return err
	}
	st.batch = scoreBatch(fs, st.device, st.batch)
	if st.out != "" {
		return st.run(ctx, e, *ckPath, pos)
	}
	switch {
	case len(st.lists) > 0 || st.shard != "" || st.resume:
		return usage(fs, "--list, --shard and --resume need --out DIR")
	case *ckPath == "" || len(pos) == 0:
		return usage(fs, "want --checkpoint C and at least one FILE or DIR")
	case *asJSON && *asCSV:
		return usage(fs, "--json and --csv exclude each other")
	case !(*threshold >= 0 && *threshold <= 1):
		return usage(fs, "--threshold %v is not within [0, 1]", *threshold)
	}
	ck, err := ssl.LoadCheckpoint(*ckPath)
	if err != nil {
		return err
	}
	if !ck.HasHead {
		return fmt.Errorf("%s has no classifier head (a pretrained backbone); score with a fine-tuned or supervised checkpoint", ck.Path)
	}
	files, err := expandFiles(pos)
	if err != nil {
		return err
	}
	size := ck.Params.Preset.ImageSize
	set := ssl.NewSet(size)
	var failed []scoreFailure
	for _, f := range files {
		im, err := data.ReadImage(f, data.ReadOptions{Crop: size})
		if err == nil {
			err = set.Add(f, -1, im, ck.Norm)
		}
		if err != nil {
			var fe *data.FileError
			if errors.As(err, &fe) {
				err = fe.Err // the file is named below
			}
			failed = append(failed, scoreFailure{File: f, Error: err.Error()})
			fmt.Fprintf(e.stderr, "%s: %v\n", f, err)
		}
	}
	var scores []score
	if set.Len() > 0 {
		m, err := e.inferenceModel(ck.Params, st.device, 0)
		if err != nil {
			return err
		}
		defer m.Close()
		progress, done := imageProgress(e, "score")
		prob, err := ssl.Predict(ctx, m, set, progress)
		done()
		if err != nil {
			return err
		}
		for i, p := range prob {
			scores = append(scores, score{File: set.Names[i], LensProb: p, Lens: p >= *threshold})
		}
		slices.SortStableFunc(scores, func(a, b score) int {
			return cmp.Or(cmp.Compare(b.LensProb, a.LensProb), cmp.Compare(a.File, b.File))
		})
	}
	if err := printScores(e, scores, failed, *asJSON, *asCSV); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d files could not be scored", len(failed), len(files))
	}
	return nil
}

// expandFiles replaces each folder among args by the image files directly
// inside it, sorted; other arguments are files, kept as given.
func expandFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			out = append(out, a) // a missing file is reported with the others
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, en := range ents {
			if en.Type().IsRegular() && data.IsImageName(en.Name()) {
				out = append(out, filepath.Join(a, en.Name()))
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s holds no .npy, FITS, PNG or JPEG files", a)
		}
	}
	return out, nil
}

func printScores(e env, scores []score, failed []scoreFailure, asJSON, asCSV bool) error {
	switch {
	case asJSON:
		out := struct {
			Scores   []score        `json:"scores"`
			Failures []scoreFailure `json:"failures"`
		}{[]score{}, []scoreFailure{}} // [] rather than null when empty
		out.Scores, out.Failures = append(out.Scores, scores...), append(out.Failures, failed...)
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case asCSV:
		w := csv.NewWriter(e.stdout)
		w.Write([]string{"file", "lens_prob", "lens"})
		for _, s := range scores {
			w.Write([]string{s.File, strconv.FormatFloat(s.LensProb, 'g', -1, 64), strconv.FormatBool(s.Lens)})
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "P(lens)\tcall\tfile")
	for _, s := range scores {
		call := "non-lens"
		if s.Lens {
			call = "lens"
		}
		fmt.Fprintf(tw, "%.4f\t%s\t%s\n", s.LensProb, call, s.File)
	}
	return tw.Flush()
}
