package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/dataimport"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/scoring"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Limits on what one poll turns into events, so a job that floods its
// output cannot flood the database and the websocket clients.
const (
	maxLineBytes    = 2000 // longer log lines are cut
	maxLinesPerPoll = 500  // more are summarised in one line
	maxPartialBytes = 1 << 20
)

// fileTail reads the complete lines appended to a file since the last
// read. A file replaced (a new inode) or truncated is read again from the
// start; an unfinished last line waits for its newline.
type fileTail struct {
	path    string
	off     int64
	info    os.FileInfo
	partial []byte
}

func (f *fileTail) lines() ([][]byte, error) {
	fh, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if f.info != nil && (!os.SameFile(f.info, info) || info.Size() < f.off) {
		f.off, f.partial = 0, nil
	}
	f.info = info
	if info.Size() == f.off {
		return nil, nil
	}
	if _, err := fh.Seek(f.off, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(fh, info.Size()-f.off))
	if err != nil {
		return nil, err
	}
	f.off += int64(len(b))
	b = append(f.partial, b...)
	cut := bytes.LastIndexByte(b, '\n')
	if cut < 0 {
		f.partial = b[:min(len(b), maxPartialBytes)]
		return nil, nil
	}
	f.partial = append([]byte(nil), b[cut+1:]...)
	return bytes.Split(b[:cut], []byte{'\n'}), nil
}

// tailer turns what a running job writes into events.
type tailer struct {
	m      *Manager
	job    store.Run
	dir    string
	logs   []*fileTail // stdout (unless the kind prints data there), stderr
	names  []string
	metric *fileTail

	// known holds the times of the metric records already stored, by
	// their seq: a resumed run rewrites metrics.jsonl with the records
	// before its checkpoint, which must not be sent twice. After the
	// first record that differs, everything is new.
	known map[int]time.Time
	fresh bool

	simOut         string // simulate: the dataset folder being written
	simTotal, done int

	// follow reads the progress file of a score-survey or import-data
	// run, followed when it changes (seen: its time when last read).
	followPath string
	follow     func() (*shared.Progress, error)
	seen       time.Time

	progress *shared.Progress
}

func (m *Manager) newTailer(ctx context.Context, j store.Run, p Params) (*tailer, error) {
	dir := m.abs(j.Dir)
	t := &tailer{m: m, job: j, dir: dir, metric: &fileTail{path: filepath.Join(dir, layout.MetricsFile)}, known: map[int]time.Time{}}
	if j.Kind != shared.KindScore {
		t.logs, t.names = append(t.logs, &fileTail{path: filepath.Join(dir, layout.StdoutFile)}), append(t.names, "stdout")
	}
	t.logs, t.names = append(t.logs, &fileTail{path: filepath.Join(dir, layout.StderrFile)}), append(t.names, "stderr")
	// Earlier starts' output is already stored: follow from the end.
	for _, f := range t.logs {
		if st, err := os.Stat(f.path); err == nil {
			f.off, f.info = st.Size(), st
		}
	}
	evs, err := m.st.Events(ctx, j.ID, 0, 1<<30, shared.EventMetric)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		t.known[ev.Metric.Seq] = ev.Metric.Time
	}
	switch j.Kind {
	case shared.KindSurvey:
		t.followPath = filepath.Join(dir, scoring.ProgressFile)
		t.follow = func() (*shared.Progress, error) {
			p, err := scoring.ReadProgress(dir)
			return &shared.Progress{Done: p.Done(), Total: p.Total, Unit: "files", Rate: p.Rate(), SecondsLeft: p.Left().Seconds()}, err
		}
	case shared.KindImportData:
		t.followPath = filepath.Join(dir, layout.ImportProgress)
		t.follow = func() (*shared.Progress, error) {
			p, err := dataimport.ReadProgress(t.followPath)
			return &shared.Progress{Done: int64(p.Files), Total: int64(p.Total), Unit: "files", Rate: p.Rate(), SecondsLeft: p.SecondsLeft()}, err
		}
	}
	if j.Kind == shared.KindSimulate {
		t.simOut = m.abs(p.Out)
		if t.simTotal, err = SimulateTotal(p.Survey, p.Counts); err != nil {
			return nil, err
		}
		t.progress = &shared.Progress{Total: int64(t.simTotal), Unit: "images"}
	}
	return t, nil
}

// poll stores and announces what is new since the last poll.
func (t *tailer) poll(ctx context.Context) error {
	var evs []shared.Event
	var ckpts []string
	var errs []error

	lines, err := t.metric.lines()
	errs = append(errs, err)
	for i, ln := range lines {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var rec shared.Metric
		if err := json.Unmarshal(ln, &rec); err != nil {
			evs = append(evs, logEvent("sslens", fmt.Sprintf("%s: unreadable record (line %d of this read): %v", layout.MetricsFile, i+1, err)))
			continue
		}
		if !t.fresh {
			if tm, ok := t.known[rec.Seq]; ok && tm.Equal(rec.Time) {
				continue
			}
			t.fresh = true
		}
		evs = append(evs, shared.Event{Type: shared.EventMetric, Metric: &rec})
		if rec.Checkpoint != "" {
			ckpts = append(ckpts, rec.Checkpoint)
		}
		if rec.TotalSteps > 0 {
			t.progress = &shared.Progress{Done: int64(rec.Step), Total: int64(rec.TotalSteps), Unit: "steps",
				Epoch: rec.Epoch, TotalEpochs: rec.TotalEpochs}
		}
	}

	var n int
	for i, f := range t.logs {
		lines, err := f.lines()
		errs = append(errs, err)
		for _, ln := range lines {
			// Progress bars redraw with \r: keep the last state.
			if k := bytes.LastIndexByte(ln, '\r'); k >= 0 {
				ln = ln[k+1:]
			}
			if len(bytes.TrimSpace(ln)) == 0 {
				continue
			}
			if n++; n > maxLinesPerPoll {
				continue
			}
			evs = append(evs, logEvent(t.names[i], string(ln[:min(len(ln), maxLineBytes)])))
		}
	}
	if n > maxLinesPerPoll {
		evs = append(evs, logEvent("sslens", fmt.Sprintf("%d more lines of output not shown; see the run folder", n-maxLinesPerPoll)))
	}

	if t.simOut != "" {
		done := countImages(t.simOut)
		if done != t.done {
			t.done = done
			t.progress.Done = int64(done)
			evs = append(evs, shared.Event{Type: shared.EventProgress, Progress: t.progress})
		}
	}

	if t.follow != nil {
		if p, ok := t.followed(); ok {
			t.progress = p
			evs = append(evs, shared.Event{Type: shared.EventProgress, Progress: p})
		}
	}

	if len(evs) > 0 {
		if t.progress != nil {
			t.progress.Fraction = fraction(t.progress.Done, t.progress.Total)
		}
		stored, err := t.m.st.AppendEvents(ctx, t.job.ID, evs, t.progress)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for _, ev := range stored {
			t.m.notify(ev)
		}
	}
	for _, c := range ckpts {
		errs = append(errs, t.m.registerCheckpoint(ctx, t.job, c))
	}
	return errors.Join(errs...)
}

// followed reads the followed progress file when it changed since the
// last read.
func (t *tailer) followed() (*shared.Progress, bool) {
	st, err := os.Stat(t.followPath)
	if err != nil || st.ModTime().Equal(t.seen) {
		return nil, false
	}
	p, err := t.follow()
	if err != nil {
		return nil, false // being replaced: the next poll reads it
	}
	t.seen = st.ModTime()
	return p, true
}

func logEvent(stream, text string) shared.Event {
	return shared.Event{Type: shared.EventLog, Log: &shared.LogLine{Stream: stream, Text: text}}
}

func fraction(done, total int64) float64 {
	if total <= 0 {
		return 0
	}
	return float64(done) / float64(total)
}

// countImages counts the image files in a dataset folder's class folders.
func countImages(dir string) int {
	n := 0
	for _, class := range data.ClassDirs {
		ents, _ := os.ReadDir(filepath.Join(dir, class))
		for _, e := range ents {
			if data.IsImageName(e.Name()) {
				n++
			}
		}
	}
	return n
}
