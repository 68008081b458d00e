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
	"github.com/sslens/sslens/shared"
)

// streamFlags are score's flags for survey-scale runs (--out).
type streamFlags struct {
	out, shard     string
	lists          stringList
	resume         bool
	batch, workers int
	device         string // --device, with or without --out
	// shards: score as that many Slurm jobs (--executor slurm).
	shards   int
	executor string
	slurm    slurmFlags
}

func (st *streamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&st.out, "out", "", "score in bounded memory into `DIR`: scores.csv in input order, ranked.csv and ranked.fits by P(lens)")
	fs.Var(&st.lists, "list", "with --out: a `FILE` of cutout paths, one per line; repeatable")
	fs.StringVar(&st.shard, "shard", "", "with --out: score shard `I/N` of the inputs (inputs I, I+N, ..., from 1)")
	fs.BoolVar(&st.resume, "resume", false, "with --out: continue the scores.csv an interrupted run left in DIR")
	fs.IntVar(&st.batch, "batch", 64, "with --out: images per model call (with --device cuda: 1024)")
	fs.StringVar(&st.device, "device", "cpu", deviceUsage)
	fs.IntVar(&st.workers, "workers", 0, "with --out: decoding goroutines (0: one per core)")
	fs.IntVar(&st.shards, "shards", 0, "with --out and --executor slurm: score as `N` Slurm jobs, shard I into DIR/shards/I, then merge their rankings into DIR")
	fs.StringVar(&st.executor, "executor", "local", "with --out: where to score, `local`ly, or slurm: --shards N jobs (a run again follows them, or resubmits the failed ones, which resume)")
	st.slurm.register(fs)
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
	case st.executor != "local" && st.executor != "slurm":
		return fmt.Errorf("score: --executor %q: want local or slurm", st.executor)
	case st.shards < 0 || (st.shards > 1) != (st.executor == "slurm"):
		return fmt.Errorf("score: --shards %d with --executor %s: shards are Slurm jobs, give --executor slurm and --shards N >= 2 together (locally one run uses every core)", st.shards, st.executor)
	case st.shards > 1 && (shards > 0 || st.resume):
		return errors.New("score: --shards submits every shard itself, resuming those an earlier run left: leave out --shard and --resume")
	}
	ck, err := ssl.LoadCheckpoint(ckPath)
	if err != nil {
		return err
	}
	if !ck.HasHead {
		return fmt.Errorf("%s has no classifier head (a pretrained backbone); score with a fine-tuned or supervised checkpoint", ck.Path)
	}
	if st.shards > 1 {
		return st.runShards(ctx, e, ckPath, args)
	}
	m, err := e.inferenceModel(ck.Params, st.device, st.batch)
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
		printProgress(e, p)
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

// printProgress prints a progress line to stderr.
func printProgress(e env, p scoring.Progress) {
	fmt.Fprintf(e.stderr, "%d of %d: %d scored, %d unreadable, %.0f files/s, %s left%s\n", p.Done(), p.Total,
		p.Scored, p.Failed, p.Rate(), p.Left().Round(time.Second), resumedNote(p))
}

// shardsDir is the folder of a sharded run's shards, shardsDir/I for shard I.
const shardsDir = "shards"

// runShards scores the inputs as st.shards Slurm jobs, shard I into
// DIR/shards/I, each `sslens score --shard I/N --resume` of the same
// inputs as absolute paths; shards an earlier run finished are kept, those
// still queued or running followed. While they run, their progress is
// summed into DIR/progress.json; then their rankings merge into
// DIR/ranked.csv and DIR/ranked.fits. Stopping stops the shards, which
// keep what they scored for the next run.
func (st *streamFlags) runShards(ctx context.Context, e env, ckPath string, args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ex, err := st.slurm.executor(exe)
	if err != nil {
		return err
	}
	out := abs(st.out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	common := []string{"--checkpoint", abs(ckPath), "--batch", strconv.Itoa(st.batch), "--workers", strconv.Itoa(st.workers), "--device", st.device, "--resume"}
	for _, l := range st.lists {
		common = append(common, "--list", abs(l))
	}
	for _, a := range args {
		common = append(common, abs(a))
	}
	// The total, counted here once, so that the progress has it before
	// every shard has started.
	var total int64
	err = scoring.Inputs(args, st.lists, func(string) error {
		total++
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	dirs := make([]string, st.shards)
	var parts []slurmPart
	for i := range dirs {
		dirs[i] = filepath.Join(out, shardsDir, strconv.Itoa(i+1))
		if p, err := scoring.ReadProgress(dirs[i]); err == nil && p.Finished {
			continue
		}
		shard := fmt.Sprintf("%d/%d", i+1, st.shards)
		parts = append(parts, slurmPart{name: "shard " + shard, job: fmt.Sprintf("score-shard-%d", i+1), dir: dirs[i], kind: shared.KindSurvey,
			args: append([]string{"score", "--out", dirs[i], "--shard", shard}, common...), after: -1})
	}
	sum := func() scoring.Progress {
		var p scoring.Progress
		p.Finished = true
		for _, d := range dirs {
			q, _ := scoring.ReadProgress(d) // a shard not started yet has none
			p = p.Add(q)
		}
		p.Total = total
		return p
	}
	report := func() {
		p := sum()
		printProgress(e, p)
		if err := scoring.WriteProgress(out, p); err != nil {
			fmt.Fprintln(e.stderr, err)
		}
	}
	followed, err := submitParts(ctx, e, ex, parts, func(i int) string { return parts[i].name + ": " })
	if err == nil {
		err = waitParts(ctx, e, followed, report)
	}
	if ctx.Err() != nil {
		stopParts(followed)
		return fmt.Errorf("%w: the shards stopped with what they scored; run the same command again to resume them", ssl.ErrStopped)
	}
	if err != nil {
		return fmt.Errorf("score: shards failed on Slurm; run the same command again to resubmit them (they resume):\n  %w", err)
	}
	rankings := make([]string, len(dirs))
	for i, d := range dirs {
		rankings[i] = filepath.Join(d, scoring.RankedFile)
	}
	ranking := filepath.Join(out, scoring.RankedFile)
	if err := scoring.Merge(ranking, rankings); err != nil {
		return err
	}
	if _, err := scoring.WriteTables(ranking, []string{"sslens lens probabilities; model: " + abs(ckPath), fmt.Sprintf("%d shards merged", st.shards)}); err != nil {
		return err
	}
	p := sum()
	if err := scoring.WriteProgress(out, p); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d cutouts done by %d Slurm jobs (unreadable ones with their errors in %s/*/%s); ranking: %s\n",
		p.Done(), st.shards, filepath.Join(out, shardsDir), scoring.ScoresFile, ranking)
	return nil
}

// stopParts stops the followed jobs (SIGINT, then scancel after a grace)
// and waits a little longer than the grace for them to end.
func stopParts(followed []slurmFollowed) {
	const grace = 30 * time.Second
	for _, f := range followed {
		f.proc.Stop(grace)
	}
	deadline := time.After(grace + 10*time.Second)
	for _, f := range followed {
		select {
		case <-f.proc.Done():
		case <-deadline:
			return
		}
	}
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
	tables, err := scoring.WriteTables(*out, []string{fmt.Sprintf("sslens lens probabilities, %d shards merged", len(pos))})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "merged %d rankings into %s\n", len(pos), strings.Join(append([]string{*out}, tables...), ", "))
	return nil
}
