package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/reproduce"
	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/shared"
)

// slurmCellJob is the file in a cell's Slurm folder naming the job that
// trains it.
const slurmCellJob = "job"

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
	type follow struct {
		cell *reproduce.Cell
		dir  string
		proc jobs.Process
	}
	var followed []follow
	handles := map[*reproduce.Cell]string{}
	for i, c := range cells {
		done, err := reproduce.CellDone(c)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		slug := jobs.Slug(c.Name())
		dir := filepath.Join(out, "slurm", slug)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		line := fmt.Sprintf("[%d/%d] %s: ", i+1, len(cells), c.Name())
		var proc jobs.Process
		if b, err := os.ReadFile(filepath.Join(dir, slurmCellJob)); err == nil {
			if h := strings.TrimSpace(string(b)); h != "" {
				if active, err := ex.Active(ctx, h); err == nil && active {
					if proc, err = ex.Attach(h); err != nil {
						return err
					}
					line += "following " + h
				}
			}
		}
		if proc == nil {
			var after []string
			if h, ok := handles[c.Pretrain]; ok {
				after = append(after, h)
			}
			args := append(append([]string(nil), jobArgs...), "--cell", c.Name())
			kind := shared.KindFinetune
			if c.Kind == reproduce.CellPretrain {
				kind = shared.KindPretrain
			}
			spec := jobs.Spec{Run: int64(i + 1), Kind: kind, Name: "reproduce-" + slug, Args: args, Dir: dir, After: after}
			if proc, err = ex.Start(ctx, spec); err != nil {
				return fmt.Errorf("reproduce: %s: %w", c.Name(), err)
			}
			if err := os.WriteFile(filepath.Join(dir, slurmCellJob), []byte(proc.Handle()+"\n"), 0o644); err != nil {
				return err
			}
			line += "submitted as " + proc.Handle()
			if len(after) > 0 {
				line += ", after " + strings.Join(after, ", ")
			}
		}
		handles[c] = proc.Handle()
		followed = append(followed, follow{c, dir, proc})
		fmt.Fprintln(e.stderr, line)
	}
	var failed []string
	for _, f := range followed {
		select {
		case <-f.proc.Done():
		case <-ctx.Done():
			return fmt.Errorf("%w: the cells' Slurm jobs run on; run the same command again to follow them and write the results", ssl.ErrStopped)
		}
		if err := f.proc.Err(); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%s): %v; its log: %s", f.cell.Name(), f.proc.Handle(), err, filepath.Join(f.dir, "stderr.log")))
			continue
		}
		fmt.Fprintf(e.stderr, "%s: finished on Slurm (%s)\n", f.cell.Name(), f.proc.Handle())
	}
	if len(failed) > 0 {
		return errors.New("reproduce: cells failed on Slurm; run the same command again to resubmit them:\n  " + strings.Join(failed, "\n  "))
	}
	return nil
}
