package ssl

import (
	"fmt"
	"math"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/shared"
)

// Progress receives every record of a run as it is written to
// metrics.jsonl, on the training goroutine: the CLI draws its progress bar
// from it and a job runner forwards it. It must not block for long.
type Progress func(shared.Metric)

// metricsLog appends records to metrics.jsonl and hands them, numbered
// and stamped, to a Progress.
type metricsLog struct {
	out      *layout.MetricsLog
	progress Progress
}

// openMetrics opens path for appending, keeping the records kept of an
// earlier session of the run (see layout.OpenMetrics).
func openMetrics(path string, kept []shared.Metric, progress Progress) (*metricsLog, error) {
	out, err := layout.OpenMetrics(path, kept)
	if err != nil {
		return nil, fmt.Errorf("ssl: %w", err)
	}
	return &metricsLog{out: out, progress: progress}, nil
}

// write appends r and passes it on.
func (l *metricsLog) write(r shared.Metric) error {
	r, err := l.out.Append(r)
	if err != nil {
		return fmt.Errorf("ssl: %w", err)
	}
	if l.progress != nil {
		l.progress(r)
	}
	return nil
}

func (l *metricsLog) close() error { return l.out.Close() }

// keptRecords reads the run's metrics.jsonl up to the checkpoint st and
// adds up, from its step records, the running totals of the epoch st
// interrupted (steps of b's sizes). Records written after the checkpoint
// (a crash between checkpoints) are dropped, since those steps are redone.
func keptRecords(run layout.Run, st ckpt.State, b batching) ([]shared.Metric, epochTotals, error) {
	var partial epochTotals
	all, err := layout.ReadMetrics(run.Path(layout.MetricsFile))
	if err != nil {
		return nil, partial, fmt.Errorf("ssl: %w", err)
	}
	var kept []shared.Metric
	for _, rec := range all {
		if rec.Step > st.Step {
			break
		}
		kept = append(kept, rec)
		if rec.Kind == shared.MetricStep && rec.Epoch == st.Epoch+1 && rec.Loss != nil {
			k, correct := b.size(rec.Step-1-st.Epoch*b.iters), 0
			if rec.Accuracy != nil {
				correct = int(math.Round(*rec.Accuracy * float64(k)))
			}
			partial.add(*rec.Loss, k, correct)
		}
	}
	if want := st.Step - st.Epoch*b.iters; partial.steps != want {
		return nil, partial, fmt.Errorf("ssl: %s: has %d step records of epoch %d up to step %d, want %d",
			layout.MetricsFile, partial.steps, st.Epoch+1, st.Step, want)
	}
	return kept, partial, nil
}
