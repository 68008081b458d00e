package ssl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Kind says what a Record reports.
type Kind string

const (
	KindStep    Kind = "step"    // one optimiser step
	KindEpoch   Kind = "epoch"   // the end of an epoch: its training loss and accuracy
	KindEval    Kind = "eval"    // a split evaluated: per epoch on val, at the end on val and test
	KindLog     Kind = "log"     // a message: setup, checkpoints saved, stop and resume
	KindWarning Kind = "warning" // something the user should know, e.g. an ignored config key
)

// Record is one line of a run's metrics.jsonl and what a Progress callback
// receives: the stream the portal shows live. Epochs are numbered from 1;
// Step is the number of optimiser steps done when the record was written.
// Rates are fractions (accuracy 0.93, not 93). Metric fields are omitted
// when they do not apply to the kind.
type Record struct {
	Seq         int       `json:"seq"` // 1, 2, ... within the run, across resumes
	Kind        Kind      `json:"kind"`
	Time        time.Time `json:"time"`
	Epoch       int       `json:"epoch"`
	Step        int       `json:"step"`
	TotalEpochs int       `json:"total_epochs,omitempty"`
	TotalSteps  int       `json:"total_steps,omitempty"`

	Loss         *float64 `json:"loss,omitempty"`     // step: the batch's mean cross-entropy; epoch: the epoch's mean
	LR           *float64 `json:"lr,omitempty"`       // learning rate of the step or epoch
	Accuracy     *float64 `json:"accuracy,omitempty"` // step, epoch: on the training images seen; eval: on Split
	AUC          *float64 `json:"auc,omitempty"`      // eval: ROC AUC on Split, lens positive
	ImagesPerSec *float64 `json:"images_per_sec,omitempty"`
	Seconds      *float64 `json:"seconds,omitempty"` // epoch: wall time of its training steps

	Split      string `json:"split,omitempty"`      // eval: val or test
	Model      string `json:"model,omitempty"`      // final eval: last or best
	Message    string `json:"message,omitempty"`    // log, warning
	Checkpoint string `json:"checkpoint,omitempty"` // log: run-relative folder of a checkpoint just written
}

// Progress receives every record of a run as it is written, on the
// training goroutine: the CLI draws its progress bar from it and a job
// runner forwards it. It must not block for long.
type Progress func(Record)

// num boxes a metric for a Record field.
func num(v float64) *float64 { return &v }

// metricsLog appends records to metrics.jsonl and hands them to a Progress.
type metricsLog struct {
	f        *os.File
	seq      int
	progress Progress
}

// openMetrics opens path for appending. kept are the records to keep from
// an earlier session of the run (see ReadMetrics); the file is rewritten
// to hold exactly them before anything is appended.
func openMetrics(path string, kept []Record, progress Progress) (*metricsLog, error) {
	var buf bytes.Buffer
	for _, r := range kept {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("ssl: %s: %w", path, err)
		}
		buf.Write(append(b, '\n'))
	}
	if err := writeFile(path, buf.Bytes()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("ssl: %w", err)
	}
	return &metricsLog{f: f, seq: len(kept), progress: progress}, nil
}

// write numbers, stamps and appends r (one write per line, so a reader
// never sees half a record) and passes it on.
func (l *metricsLog) write(r Record) error {
	l.seq++
	r.Seq, r.Time = l.seq, time.Now().UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("ssl: metrics record %d: %w", r.Seq, err)
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("ssl: %w", err)
	}
	if l.progress != nil {
		l.progress(r)
	}
	return nil
}

func (l *metricsLog) close() error { return l.f.Close() }

// ReadMetrics reads a metrics.jsonl file. A torn last line (a crash while
// writing it) is dropped; any other bad line is an error naming its number.
func ReadMetrics(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ssl: %w", err)
	}
	lines := bytes.Split(b, []byte{'\n'})
	var out []Record
	for i, ln := range lines {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(ln, &r); err != nil {
			if i == len(lines)-1 {
				break // no newline after it: the write was cut short
			}
			return nil, fmt.Errorf("ssl: %s: line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
