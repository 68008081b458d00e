package layout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/shared"
)

// MetricsLog appends records to a run's metrics.jsonl. Each line is one
// shared.Metric, the record the portal streams, so the job runner forwards
// lines without converting them.
type MetricsLog struct {
	f   *os.File
	seq int
}

// OpenMetrics opens path for appending. kept are the records to keep from
// an earlier session of the run (see ReadMetrics); the file is rewritten
// atomically to hold exactly them before anything is appended, and
// numbering continues after them.
func OpenMetrics(path string, kept []shared.Metric) (*MetricsLog, error) {
	var buf bytes.Buffer
	for _, r := range kept {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		buf.Write(append(b, '\n'))
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return &MetricsLog{f: f, seq: len(kept)}, nil
}

// Append numbers r (Seq), stamps it (Time, UTC) and appends it in one
// write, so a reader never sees half a record. It returns the record as
// written.
func (l *MetricsLog) Append(r shared.Metric) (shared.Metric, error) {
	l.seq++
	r.Seq, r.Time = l.seq, time.Now().UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return r, fmt.Errorf("%s: record %d: %w", l.f.Name(), r.Seq, err)
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return r, err
	}
	return r, nil
}

// Close closes the file.
func (l *MetricsLog) Close() error { return l.f.Close() }

// ReadMetrics reads a metrics.jsonl file. A torn last line (a crash while
// writing it) is dropped; any other bad line is an error naming its number.
func ReadMetrics(path string) ([]shared.Metric, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(b, []byte{'\n'})
	var out []shared.Metric
	for i, ln := range lines {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var r shared.Metric
		if err := json.Unmarshal(ln, &r); err != nil {
			if i == len(lines)-1 {
				break // no newline after it: the write was cut short
			}
			return nil, fmt.Errorf("%s: line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
