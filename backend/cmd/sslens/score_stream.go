package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/scoring"
	"github.com/sslens/sslens/backend/ssl"
)

// streamFlags are score's flags for survey-scale runs (--out).
type streamFlags struct {
	out, shard     string
	lists          stringList
	resume         bool
	batch, workers int
}

func (st *streamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&st.out, "out", "", "score in bounded memory into `DIR`: scores.csv in input order, ranked.csv and ranked.fits by P(lens)")
	fs.Var(&st.lists, "list", "with --out: a `FILE` of cutout paths, one per line; repeatable")
	fs.StringVar(&st.shard, "shard", "", "with --out: score shard `I/N` of the inputs (inputs I, I+N, ..., from 1)")
	fs.BoolVar(&st.resume, "resume", false, "with --out: continue the scores.csv an interrupted run left in DIR")
	fs.IntVar(&st.batch, "batch", 64, "with --out: images per model call")
	fs.IntVar(&st.workers, "workers", 0, "with --out: decoding goroutines (0: one per core)")
}

// parseShard reads I/N.
func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("--shard %q: want I/N with 1 <= I <= N", s)
	}
	return i, n, nil
}

// run scores the inputs into st.out with the classifier at ckPath.
func (st *streamFlags) run(ctx context.Context, e env, ckPath string, args []string) error {
	shard, shards, err := parseShard(st.shard)
	switch {
	case err != nil:
		return err
	case ckPath == "" || len(args)+len(st.lists) == 0:
		return errors.New("score: want --checkpoint C and at least one FILE, DIR, GLOB or --list")
	case st.batch < 1 || st.workers < 0:
		return fmt.Errorf("score: --batch %d and --workers %d: want a positive batch", st.batch, st.workers)
	}
	ck, err := ssl.LoadCheckpoint(ckPath)
	if err != nil {
		return err
	}
	if !ck.HasHead {
		return fmt.Errorf("%s has no classifier head (a pretrained backbone); score with a fine-tuned or supervised checkpoint", ck.Path)
	}
	m, err := e.newModel(ck.Params, modelOptions{Batch: st.batch})
	if err != nil {
		return err
	}
	defer m.Close()
	size := ck.Params.Preset.ImageSize
	opt := scoring.Options{Out: st.out, Shard: shard, Shards: shards, Resume: st.resume, Batch: st.batch, Workers: st.workers,
		Read: data.ReadOptions{Crop: size}, Predict: m.Predict,
		Comments: []string{"sslens lens probabilities; model: " + ck.Path, fmt.Sprintf("shard %d of %d of the inputs", max(shard, 1), max(shards, 1))},
		Prepare:  func(im data.Image) ([]float32, error) { return im.Pix, ssl.ModelInput(im, size, ck.Norm) }}
	last := time.Time{}
	opt.Progress = func(p scoring.Progress) {
		if time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(e.stderr, "%d of %d: %d scored, %d unreadable, %.0f files/s, %s left%s\n", p.Resumed+p.Scored+p.Failed, p.Total,
			p.Scored, p.Failed, p.Rate(), p.Left().Round(time.Second), resumedNote(p))
	}
	inputs := func(yield func(string) error) error { return scoring.Inputs(args, st.lists, yield) }
	p, err := scoring.Run(ctx, inputs, opt)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %s holds what was scored; continue with --resume", ssl.ErrStopped, filepath.Join(st.out, scoring.ScoresFile))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d scored, %d unreadable (their errors are in %s)%s in %s; ranking: %s\n", p.Scored, p.Failed,
		scoring.ScoresFile, resumedNote(p), p.Elapsed.Round(time.Second), filepath.Join(st.out, scoring.RankedFile))
	return nil
}

func resumedNote(p scoring.Progress) string {
	if p.Resumed == 0 {
		return ""
	}
	return fmt.Sprintf(", %d from an earlier session", p.Resumed)
}

// runScoreMerge is `sslens score merge`: shard rankings into one.
func runScoreMerge(fs *flag.FlagSet, args []string, e env) error {
	out := fs.String("out", "", "the merged ranking's `FILE` (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) == 0 {
		return usage(fs, "score merge: want --out FILE and the shards' folders or ranked.csv files")
	}
	for i, p := range pos {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			pos[i] = filepath.Join(p, scoring.RankedFile)
		}
	}
	if err := scoring.Merge(*out, pos); err != nil {
		return err
	}
	fitsOut := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".fits"
	if err := scoring.WriteFITS(fitsOut, *out, []string{fmt.Sprintf("sslens lens probabilities, %d shards merged", len(pos))}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "merged %d rankings into %s and %s\n", len(pos), *out, fitsOut)
	return nil
}
