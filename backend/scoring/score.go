package scoring

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/data"
)

// ScoresFile holds a run's results in input order as they come: one row
// per cutout of its shard, lens_prob empty and error set for one that
// could not be scored. Resuming skips as many inputs as it has rows.
const ScoresFile = "scores.csv"

var scoresHeader = []string{"file", "lens_prob", "ra", "dec", "error"}

// Options set a scoring run.
type Options struct {
	// Out is the folder of scores.csv and ranked.csv.
	Out string
	// Shard and Shards make this run score input k (from 0) only when
	// k mod Shards == Shard-1; 0 and 0 score every input.
	Shard, Shards int
	// Resume continues the scores.csv an interrupted run left; without it
	// an existing one is an error.
	Resume bool
	// Batch is the images per Predict call; Workers the decoders (0: one
	// per core).
	Batch, Workers int
	// Read reads a cutout (its centre crop); Prepare turns it into the
	// model's input (normalised).
	Read    data.ReadOptions
	Prepare func(data.Image) ([]float32, error)
	// Predict returns P(lens) of each image of a batch.
	Predict func(images []float32) ([]float64, error)
	// Progress, when set, is told after each batch.
	Progress func(Progress)
	// ProgressEvery is how often ProgressFile is rewritten at most (0:
	// DefaultProgressEvery).
	ProgressEvery time.Duration
	// Comments describe the run in ranked.fits's primary header (the
	// model, the shard).
	Comments []string
}

// ProgressFile holds a run's latest Progress as JSON, rewritten (whole)
// every few seconds and at the end, for whoever follows the run: the
// portal, or the job merging the shards.
const ProgressFile = "progress.json"

// DefaultProgressEvery is how often ProgressFile is rewritten at most,
// unless Options say otherwise.
const DefaultProgressEvery = 2 * time.Second

// Progress counts a run's cutouts so far: Scored and Failed in this
// session, Resumed from an earlier one, Total in its shard (all sessions),
// and the session's time. Finished is set once the ranking is written.
type Progress struct {
	Scored   int64         `json:"scored"`
	Failed   int64         `json:"failed"`
	Resumed  int64         `json:"resumed"`
	Total    int64         `json:"total"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Finished bool          `json:"finished"`
}

// Done is the shard's cutouts behind it, in all sessions.
func (p Progress) Done() int64 { return p.Resumed + p.Scored + p.Failed }

// Rate is the session's cutouts per second.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Scored+p.Failed) / p.Elapsed.Seconds()
}

// Add sums the counts of shards running side by side. Elapsed becomes
// the time that makes Rate the sum of their rates, what they score
// together now, whenever each started.
func (p Progress) Add(q Progress) Progress {
	sum := Progress{Scored: p.Scored + q.Scored, Failed: p.Failed + q.Failed, Resumed: p.Resumed + q.Resumed,
		Total: p.Total + q.Total, Finished: p.Finished && q.Finished}
	if rate := p.Rate() + q.Rate(); rate > 0 {
		sum.Elapsed = time.Duration(float64(sum.Scored+sum.Failed) / rate * float64(time.Second))
	}
	return sum
}

// ReadProgress reads the ProgressFile of the run folder dir.
func ReadProgress(dir string) (Progress, error) {
	var p Progress
	b, err := os.ReadFile(filepath.Join(dir, ProgressFile))
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil {
		return Progress{}, fmt.Errorf("scoring: progress: %w", err)
	}
	return p, nil
}

// WriteProgress replaces the ProgressFile of dir.
func WriteProgress(dir string, p Progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ProgressFile), append(b, '\n'))
}

// Left is the time the rest should take at the session's rate.
func (p Progress) Left() time.Duration {
	n := p.Total - p.Done()
	if n <= 0 || p.Rate() <= 0 {
		return 0
	}
	return time.Duration(float64(n) / p.Rate() * float64(time.Second))
}

// item is one input on its way through the pipeline.
type item struct {
	seq      int64 // place among this session's inputs
	file     string
	pix      []float32
	ra, dec  string
	err      error
	lensProb float64
}

// Run scores the inputs of opt's shard that earlier sessions did not,
// appending each batch's rows to scores.csv in input order, then writes
// ranked.csv and ranked.fits. When ctx ends it stops after the current batch; what it
// wrote stays, for Resume.
func Run(ctx context.Context, inputs func(yield func(string) error) error, opt Options) (Progress, error) {
	if opt.Shards < 0 || opt.Shard < 0 || (opt.Shards > 0 && (opt.Shard < 1 || opt.Shard > opt.Shards)) {
		return Progress{}, fmt.Errorf("scoring: shard %d of %d: want 1 <= i <= n", opt.Shard, opt.Shards)
	}
	if opt.Batch <= 0 || opt.Predict == nil || opt.Prepare == nil {
		return Progress{}, errors.New("scoring: a batch size, Prepare and Predict are needed")
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return Progress{}, fmt.Errorf("scoring: %w", err)
	}
	path := filepath.Join(opt.Out, ScoresFile)
	f, resumed, err := openScores(path, opt.Resume)
	if err != nil {
		return Progress{}, err
	}
	defer f.Close()
	p := Progress{Resumed: resumed}
	began := time.Now()
	// A first pass counts the shard's inputs, for the time left: listing
	// costs little beside decoding.
	mine := opt.shard(inputs)
	err = mine(func(string) error {
		p.Total++
		return ctx.Err()
	})
	if err != nil {
		return p, err
	}
	if err := WriteProgress(opt.Out, p); err != nil {
		return p, err
	}
	written := time.Now()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan item, 4*opt.Batch)
	var enumErr error
	go func() {
		defer close(todo)
		var seq int64
		enumErr = mine(func(file string) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if resumed > 0 {
				resumed--
				return nil
			}
			select {
			case todo <- item{seq: seq, file: file}:
				seq++
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	done := decode(todo, opt)
	defer func() {
		cancel()
		for range done { // let the decoders finish after an early return
		}
	}()

	cw := csv.NewWriter(f)
	pending := map[int64]item{} // decoded out of order, bounded by the channels
	var next int64
	batch := make([]item, 0, opt.Batch)
	flush := func() error {
		if err := predict(batch, opt); err != nil {
			return err
		}
		for _, it := range batch {
			row := []string{it.file, "", it.ra, it.dec, ""}
			if it.err != nil {
				row[4] = it.err.Error()
				p.Failed++
			} else {
				row[1] = strconv.FormatFloat(it.lensProb, 'g', -1, 64)
				p.Scored++
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("scoring: %s: %w", path, err)
		}
		batch = batch[:0]
		p.Elapsed = time.Since(began)
		if opt.Progress != nil {
			opt.Progress(p)
		}
		if time.Since(written) < cmp.Or(opt.ProgressEvery, DefaultProgressEvery) {
			return nil
		}
		written = time.Now()
		return WriteProgress(opt.Out, p)
	}
	for it := range done {
		pending[it.seq] = it
		for {
			it, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if batch = append(batch, it); len(batch) == opt.Batch {
				if err := flush(); err != nil {
					return p, err
				}
				if ctx.Err() != nil {
					return p, ctx.Err()
				}
			}
		}
	}
	if err := flush(); err != nil {
		return p, err
	}
	if enumErr != nil {
		return p, enumErr
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	ranking := filepath.Join(opt.Out, RankedFile)
	if err := rankScores(path, ranking); err != nil {
		return p, err
	}
	if _, err := WriteTables(ranking, opt.Comments); err != nil {
		return p, err
	}
	p.Finished = true
	return p, WriteProgress(opt.Out, p)
}

// shard filters inputs down to opt's shard: input k (from 0) when
// k mod Shards is Shard-1, every input without shards.
func (opt Options) shard(inputs func(yield func(string) error) error) func(yield func(string) error) error {
	return func(yield func(string) error) error {
		var k int64
		return inputs(func(file string) error {
			k++
			if opt.Shards > 0 && (k-1)%int64(opt.Shards) != int64(opt.Shard-1) {
				return nil
			}
			return yield(file)
		})
	}
}

// decode reads and prepares the cutouts of todo on opt.Workers goroutines;
// the channel it returns closes when all are done.
func decode(todo <-chan item, opt Options) <-chan item {
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make(chan item, 2*opt.Batch)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range todo {
				im, meta, err := data.ReadCutout(it.file, opt.Read)
				if err == nil {
					it.pix, err = opt.Prepare(im)
				}
				if err != nil {
					var fe *data.FileError
					if errors.As(err, &fe) {
						err = fe.Err // the row names the file
					}
					it.err = err
				}
				if pos := meta.Position; pos != nil {
					it.ra, it.dec = strconv.FormatFloat(pos.RA, 'f', 7, 64), strconv.FormatFloat(pos.Dec, 'f', 7, 64)
				}
				out <- it
			}
		})
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}

// predict scores the readable cutouts of a batch in one call.
func predict(batch []item, opt Options) error {
	var pix []float32
	var at []int
	for i, it := range batch {
		if it.err == nil {
			pix = append(pix, it.pix...)
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return nil
	}
	probs, err := opt.Predict(pix)
	if err != nil {
		return fmt.Errorf("scoring: %w", err)
	}
	if len(probs) != len(at) {
		return fmt.Errorf("scoring: %d scores for %d images", len(probs), len(at))
	}
	for j, i := range at {
		batch[i].lensProb = probs[j]
	}
	return nil
}

// openScores opens scores.csv for appending. An existing one is an error
// unless resuming; then its complete rows are counted (a row cut short
// by a crash is removed) and returned.
func openScores(path string, resume bool) (*os.File, int64, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f, err := os.Create(path)
		if err != nil {
			return nil, 0, fmt.Errorf("scoring: %w", err)
		}
		cw := csv.NewWriter(f)
		cw.Write(scoresHeader)
		cw.Flush()
		return f, 0, cw.Error()
	case err != nil:
		return nil, 0, fmt.Errorf("scoring: %w", err)
	case !resume:
		return nil, 0, fmt.Errorf("scoring: %s exists: resume it, or score into another folder", path)
	}
	keep := bytes.LastIndexByte(b, '\n') + 1 // complete lines only
	rows := int64(bytes.Count(b[:keep], []byte{'\n'})) - 1
	if rows < 0 {
		return nil, 0, fmt.Errorf("scoring: %s has no header", path)
	}
	if err := os.Truncate(path, int64(keep)); err != nil {
		return nil, 0, fmt.Errorf("scoring: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("scoring: %w", err)
	}
	return f, rows, nil
}

// rankScores writes the ranking of the scored rows of scores.csv.
func rankScores(scores, out string) error {
	f, err := os.Open(scores)
	if err != nil {
		return fmt.Errorf("scoring: %w", err)
	}
	defer f.Close()
	rd := csv.NewReader(f)
	rd.FieldsPerRecord = len(scoresHeader)
	if _, err := rd.Read(); err != nil {
		return fmt.Errorf("scoring: %s: %w", scores, err)
	}
	return rank(out, func() (ranked, bool, error) {
		for {
			rec, err := rd.Read()
			if errors.Is(err, io.EOF) {
				return ranked{}, false, nil
			}
			if err != nil {
				return ranked{}, false, fmt.Errorf("scoring: %s: %w", scores, err)
			}
			if rec[1] == "" {
				continue // not scored: its error is in scores.csv
			}
			p, err := strconv.ParseFloat(rec[1], 64)
			if err != nil {
				return ranked{}, false, fmt.Errorf("scoring: %s: lens_prob %q: %w", scores, rec[1], err)
			}
			return ranked{file: rec[0], prob: p, probText: rec[1], ra: rec[2], dec: rec[3]}, true, nil
		}
	})
}
