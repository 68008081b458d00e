package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/reproduce"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/shared"
)

// slurmJobFile is the file in a part's Slurm folder naming the job that
// runs it.
const slurmJobFile = "job"

// slurmPart is one job of a command that fans out over Slurm: a reproduce
// cell, a scoring shard.
type slurmPart struct {
	name string // for people: the cell, "shard 2 of 8"
	job  string // the Slurm job's name, after "sslens-"
	// dir is its folder: the batch script, the logs and slurmJobFile.
	dir  string
	kind shared.RunKind
	args []string // the sslens subcommand the job runs
	// after is the index of a part that must succeed first, or -1.
	after int
}

// slurmFollowed is a part whose job was submitted or found running.
type slurmFollowed struct {
	part slurmPart
	proc jobs.Process
}

// submitParts submits each part as a Slurm job (after the part it waits
// for), or follows the job an earlier submission left queued or running,
// so that running the same command again never runs a part twice. Each
// line of what it did goes to stderr, prefixed by label(i).
func submitParts(ctx context.Context, e env, ex *jobs.Slurm, parts []slurmPart, label func(i int) string) ([]slurmFollowed, error) {
	handles := make([]string, len(parts))
	var followed []slurmFollowed
	for i, p := range parts {
		if err := os.MkdirAll(p.dir, 0o755); err != nil {
			return followed, err
		}
		line := label(i)
		var proc jobs.Process
		if b, err := os.ReadFile(filepath.Join(p.dir, slurmJobFile)); err == nil {
			if h := strings.TrimSpace(string(b)); h != "" {
				if active, err := ex.Active(ctx, h); err == nil && active {
					if proc, err = ex.Attach(h); err != nil {
						return followed, err
					}
					line += "following " + h
				}
			}
		}
		if proc == nil {
			var after []string
			if p.after >= 0 && handles[p.after] != "" {
				after = append(after, handles[p.after])
			}
			spec := jobs.Spec{Run: int64(i + 1), Kind: p.kind, Name: p.job, Args: p.args, Dir: p.dir, After: after}
			var err error
			if proc, err = ex.Start(ctx, spec); err != nil {
				return followed, fmt.Errorf("%s: %w", p.name, err)
			}
			if err := os.WriteFile(filepath.Join(p.dir, slurmJobFile), []byte(proc.Handle()+"\n"), 0o644); err != nil {
				return followed, err
			}
			line += "submitted as " + proc.Handle()
			if len(after) > 0 {
				line += ", after " + strings.Join(after, ", ")
			}
		}
		handles[i] = proc.Handle()
		followed = append(followed, slurmFollowed{p, proc})
		fmt.Fprintln(e.stderr, line)
	}
	return followed, nil
}

// waitParts waits for the followed jobs, calling tick (when set) every
// few seconds meanwhile. It returns ctx's error when ctx ends first, and
// otherwise one error naming each part that failed with its log.
func waitParts(ctx context.Context, e env, followed []slurmFollowed, tick func()) error {
	every := time.NewTicker(5 * time.Second)
	defer every.Stop()
	var failed []string
	for _, f := range followed {
	wait:
		for {
			select {
			case <-f.proc.Done():
				break wait
			case <-every.C:
				if tick != nil {
					tick()
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := f.proc.Err(); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%s): %v; its log: %s", f.part.name, f.proc.Handle(), err, filepath.Join(f.part.dir, "stderr.log")))
			continue
		}
		fmt.Fprintf(e.stderr, "%s: finished on Slurm (%s)\n", f.part.name, f.proc.Handle())
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "\n  "))
	}
	return nil
}

// reproduceOnSlurm submits every unfinished cell of the matrix as a Slurm
// job of its own, `sslens reproduce ... --cell NAME` (a fine-tune after the
// pretraining it starts from), or follows the job an earlier submission
// left queued or running; then it waits for them all. Each job's script and
// logs are in <out>/slurm/<cell>/. It returns nil once every cell has
// finished, so that a local run then only writes the results.
func reproduceOnSlurm(ctx context.Context, e env, ex *jobs.Slurm, cells []*reproduce.Cell, jobArgs []string) error {
	out, err := filepath.Abs(cells[0].OutputDir())
	if err != nil {
		return err
	}
	var parts []slurmPart
	var at []int // each part's place in the matrix
	index := map[*reproduce.Cell]int{}
	for i, c := range cells {
		done, err := reproduce.CellDone(c)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		after := -1
		if k, ok := index[c.Pretrain]; ok {
			after = k
		}
		kind := shared.KindFinetune
		if c.Kind == reproduce.CellPretrain {
			kind = shared.KindPretrain
		}
		index[c] = len(parts)
		at = append(at, i)
		slug := jobs.Slug(c.Name())
		parts = append(parts, slurmPart{name: c.Name(), job: "reproduce-" + slug, dir: filepath.Join(out, "slurm", slug), kind: kind,
			args: append(append([]string(nil), jobArgs...), "--cell", c.Name()), after: after})
	}
	followed, err := submitParts(ctx, e, ex, parts, func(i int) string {
		return fmt.Sprintf("[%d/%d] %s: ", at[i]+1, len(cells), parts[i].name)
	})
	if err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	err = waitParts(ctx, e, followed, nil)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: the cells' Slurm jobs run on; run the same command again to follow them and write the results", ssl.ErrStopped)
	case err != nil:
		return errors.New("reproduce: cells failed on Slurm; run the same command again to resubmit them:\n  " + err.Error())
	}
	return nil
}
