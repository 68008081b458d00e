package ui

import (
	"slices"
	"strings"

	"github.com/sslens/sslens/app/chart"
	"github.com/sslens/sslens/shared"
)

// maxLogLines is how many lines of a run's output the run page keeps.
const maxLogLines = 200

// logEntry is one line of the run page's log tail.
type logEntry struct {
	Stream string // stdout, stderr, or "metric" for log and warning records
	Text   string
}

// runModel is what the run page knows of one run, built from its events
// (the websocket replays them all on the first subscription and the missed
// ones after a reconnection).
type runModel struct {
	run     shared.Run
	metrics []shared.Metric
	logs    []logEntry
}

// apply folds events of the model's run into it, in order.
func (m *runModel) apply(evs []shared.Event) {
	for _, ev := range evs {
		if ev.Run != m.run.ID {
			continue
		}
		// The run as read already reflects events up to its LastSeq: a
		// replayed older state, progress or cluster event would show the
		// run as it was (a finished run "running" again for a moment).
		stale := ev.Seq <= m.run.LastSeq
		m.run.LastSeq = max(m.run.LastSeq, ev.Seq)
		switch {
		case ev.Type == shared.EventMetric && ev.Metric != nil:
			m.addMetric(*ev.Metric)
		case ev.Type == shared.EventState && ev.State != nil && !stale:
			m.run.State = ev.State.State
			if ev.State.Error != "" {
				m.run.Error = ev.State.Error
			}
		case ev.Type == shared.EventProgress && ev.Progress != nil && !stale:
			p := *ev.Progress
			m.run.Progress = &p
		case ev.Type == shared.EventLog && ev.Log != nil:
			m.addLog(logEntry{ev.Log.Stream, ev.Log.Text})
		case ev.Type == shared.EventCluster && ev.Cluster != nil && !stale:
			c := *ev.Cluster
			m.run.Cluster = &c
		}
	}
}

// merge takes a freshly read run; when the events have told more than it
// knows (its LastSeq is older), their state, progress, error and cluster
// state stay.
func (m *runModel) merge(r shared.Run) {
	if r.LastSeq < m.run.LastSeq {
		r.State, r.Progress, r.Error, r.Cluster, r.LastSeq = m.run.State, m.run.Progress, m.run.Error, m.run.Cluster, m.run.LastSeq
	}
	m.run = r
}

// addMetric appends a record; a record whose seq is not above the last
// one (a resumed run rewriting what followed its checkpoint) replaces that
// record and every later one.
func (m *runModel) addMetric(r shared.Metric) {
	n := len(m.metrics)
	for n > 0 && m.metrics[n-1].Seq >= r.Seq {
		n--
	}
	m.metrics = append(m.metrics[:n], r)
	if (r.Kind == shared.MetricLog || r.Kind == shared.MetricWarning) && r.Message != "" {
		m.addLog(logEntry{"metric", string(r.Kind) + ": " + r.Message})
	}
}

// logDedupe is how many of the latest log lines a new one is compared
// with: the CLI prints each log and warning record it writes, so both the
// record and the printed line arrive, close together.
const logDedupe = 20

// logText is a log line without the prefix that says where it came from.
func logText(e logEntry) string {
	return strings.TrimPrefix(strings.TrimPrefix(e.Text, "log: "), "warning: ")
}

// addLog appends a line to the tail, unless it is a log record whose
// printed line is among the latest, or the printed line of such a record
// (a process's own repeated lines all stay).
func (m *runModel) addLog(e logEntry) {
	text := logText(e)
	for _, prev := range m.logs[max(len(m.logs)-logDedupe, 0):] {
		if (prev.Stream == "metric") != (e.Stream == "metric") && logText(prev) == text {
			return
		}
	}
	m.logs = append(m.logs, e)
	if over := len(m.logs) - maxLogLines; over > 0 {
		m.logs = append(m.logs[:0], m.logs[over:]...)
	}
}

// charts are the run page's four live charts' series, x = optimiser steps,
// and the step axis they share (0 to the run's total steps when known,
// else to the latest step), so that the same step lines up in every chart.
type charts struct {
	Loss, LR, Accuracy, Speed []chart.Series
	X                         chart.Range
}

// charts derives the curves from the metrics: per-step loss and learning
// rate (per-epoch when the run logs no steps), validation accuracy and
// AUC (the kNN monitor for pretraining), and throughput.
func (m *runModel) charts() charts {
	var (
		stepLoss, epochLoss, valLoss []chart.Point
		stepLR, epochLR              []chart.Point
		acc, auc                     []chart.Point
		stepIPS, epochIPS            []chart.Point
	)
	add := func(dst *[]chart.Point, x int, v *float64) {
		if v != nil {
			*dst = append(*dst, chart.Point{X: float64(x), Y: *v})
		}
	}
	for _, r := range m.metrics {
		switch r.Kind {
		case shared.MetricStep:
			add(&stepLoss, r.Step, r.Loss)
			add(&stepLR, r.Step, r.LR)
			add(&stepIPS, r.Step, r.ImagesPerSec)
		case shared.MetricEpoch:
			add(&epochLoss, r.Step, r.Loss)
			add(&epochLR, r.Step, r.LR)
			add(&epochIPS, r.Step, r.ImagesPerSec)
		case shared.MetricEval:
			if r.Split == "val" && r.Model == "" {
				add(&valLoss, r.Step, r.Loss)
				add(&acc, r.Step, r.Accuracy)
				add(&auc, r.Step, r.AUC)
			}
		}
	}
	var c charts
	for _, r := range m.metrics {
		c.X.Max = max(c.X.Max, float64(r.TotalSteps), float64(r.Step))
	}
	series := func(dst *[]chart.Series, name string, ps []chart.Point) {
		if len(ps) > 0 {
			*dst = append(*dst, chart.Series{Name: name, Points: ps})
		}
	}
	series(&c.Loss, "train", stepLoss)
	series(&c.Loss, "train (epoch)", epochLoss)
	series(&c.Loss, "val", valLoss)
	// Rate and speed show per step where the run logs steps, else per epoch.
	perStep := func(step, epoch []chart.Point) []chart.Point {
		if len(step) > 0 {
			return step
		}
		return epoch
	}
	series(&c.LR, "lr", perStep(stepLR, epochLR))
	series(&c.Accuracy, "accuracy", acc)
	series(&c.Accuracy, "AUC", auc)
	series(&c.Speed, "images/s", perStep(stepIPS, epochIPS))
	return c
}

// progress is the run's reported progress, else what its latest step
// record says (runs that report none, or before the first report), else nil.
func (m *runModel) progress() *shared.Progress {
	if p := m.run.Progress; p != nil && p.Total > 0 {
		return p
	}
	for i := len(m.metrics) - 1; i >= 0; i-- {
		r := m.metrics[i]
		if (r.Kind == shared.MetricStep || r.Kind == shared.MetricEpoch) && r.TotalSteps > 0 {
			return &shared.Progress{Done: int64(r.Step), Total: int64(r.TotalSteps), Unit: "steps", Fraction: float64(r.Step) / float64(r.TotalSteps),
				Epoch: r.Epoch, TotalEpochs: r.TotalEpochs}
		}
	}
	return nil
}

// savedCheckpoints lists the checkpoints the run's log records say it has
// written (run-relative folders, newest epoch each), in the order first
// written: they are registered for use when the run finishes.
func (m *runModel) savedCheckpoints() []shared.Metric {
	var out []shared.Metric
	for _, r := range m.metrics {
		if r.Kind != shared.MetricLog || r.Checkpoint == "" {
			continue
		}
		if i := slices.IndexFunc(out, func(o shared.Metric) bool { return o.Checkpoint == r.Checkpoint }); i >= 0 {
			out[i] = r
		} else {
			out = append(out, r)
		}
	}
	return out
}

// finalEvals returns the end-of-run evaluations (records naming a model).
func (m *runModel) finalEvals() []shared.Metric {
	var out []shared.Metric
	for _, r := range m.metrics {
		if r.Kind == shared.MetricEval && r.Model != "" {
			out = append(out, r)
		}
	}
	return out
}
