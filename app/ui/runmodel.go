package ui

import (
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
		m.run.LastSeq = max(m.run.LastSeq, ev.Seq)
		switch {
		case ev.Type == shared.EventMetric && ev.Metric != nil:
			m.addMetric(*ev.Metric)
		case ev.Type == shared.EventState && ev.State != nil:
			m.run.State = ev.State.State
			if ev.State.Error != "" {
				m.run.Error = ev.State.Error
			}
		case ev.Type == shared.EventProgress && ev.Progress != nil:
			p := *ev.Progress
			m.run.Progress = &p
		case ev.Type == shared.EventLog && ev.Log != nil:
			m.addLog(logEntry{ev.Log.Stream, ev.Log.Text})
		}
	}
}

// merge takes a freshly read run; when the events have told more than it
// knows (its LastSeq is older), their state, progress and error stay.
func (m *runModel) merge(r shared.Run) {
	if r.LastSeq < m.run.LastSeq {
		r.State, r.Progress, r.Error, r.LastSeq = m.run.State, m.run.Progress, m.run.Error, m.run.LastSeq
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

func (m *runModel) addLog(e logEntry) {
	m.logs = append(m.logs, e)
	if over := len(m.logs) - maxLogLines; over > 0 {
		m.logs = append(m.logs[:0], m.logs[over:]...)
	}
}

// charts are the run page's four live charts' series, x = optimiser steps.
type charts struct {
	Loss, LR, Accuracy, Speed []chart.Series
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
