package scoring

import (
	"cmp"
	"container/heap"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/fitstable"
	"github.com/sslens/sslens/backend/votable"
	"github.com/sslens/sslens/shared"
)

// RankedFile is a run's ranking: every scored cutout, highest P(lens)
// first (ties by file name), one CSV row each.
const RankedFile = "ranked.csv"

// rankedHeader are ranked.csv's columns; ra and dec (degrees, ICRS) are
// empty for cutouts without a position.
var rankedHeader = []string{"rank", "file", "lens_prob", "ra", "dec"}

// RankedFITS is the ranking as a FITS binary table, written from
// ranked.csv.
const RankedFITS = "ranked.fits"

// rankedColumns describe ranked.csv's columns in the FITS table.
var rankedColumns = []fitstable.Column{
	{Name: "rank", Type: fitstable.Long, UCD: "meta.number", Desc: "rank by P(lens), 1 the highest"},
	{Name: "file", Type: fitstable.Char, UCD: "meta.id;meta.file", Desc: "cutout file"},
	{Name: "lens_prob", Type: fitstable.Double, UCD: "stat.probability", Desc: "P(lens) by the classifier"},
	{Name: "ra", Type: fitstable.Double, Unit: "deg", UCD: "pos.eq.ra;meta.main", Desc: "right ascension of the cutout's centre (ICRS); empty when the file gives none"},
	{Name: "dec", Type: fitstable.Double, Unit: "deg", UCD: "pos.eq.dec;meta.main", Desc: "declination of the cutout's centre (ICRS); empty when the file gives none"},
}

// RankedVOTable is the ranking as a VOTable, written beside ranked.fits
// for rankings of at most 100,000 rows (votableMaxRows): TABLEDATA takes
// some 150 bytes a row, so larger catalogues are for FITS.
const RankedVOTable = "ranked.vot"

// votableMaxRows is the most rows a ranking's VOTable is written for (a
// variable for the tests).
var votableMaxRows = 100_000

// WriteTables writes the ranking in csvPath (X.csv) as a FITS binary
// table, X.fits, and when it has at most votableMaxRows rows as a
// VOTable, X.vot (a larger one's older X.vot is removed); comments go to
// the FITS primary HDU and the VOTable's description. It reads the CSV in
// passes (row count and file-name width, then each table's rows), so in
// constant memory, and returns the files written.
func WriteTables(csvPath string, comments []string) ([]string, error) {
	t := fitstable.Table{Name: "SCORES", Comments: comments, RowNote: "one per cutout", Columns: slices.Clone(rankedColumns)}
	each := func(f func([]string) error) error {
		in, rd, err := openRanking(csvPath)
		if err != nil {
			return err
		}
		defer in.Close()
		for {
			rec, err := rd.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("scoring: %s: %w", csvPath, err)
			}
			if err := f(rec); err != nil {
				return err
			}
		}
	}
	err := each(func(rec []string) error {
		t.Rows++
		t.Columns[1].Width = max(t.Columns[1].Width, len(fitstable.ASCII(rec[1])))
		return nil
	})
	if err != nil {
		return nil, err
	}
	stem := strings.TrimSuffix(csvPath, filepath.Ext(csvPath))
	fitsPath, votPath := stem+".fits", stem+".vot"
	if err := atomicfile.Write(fitsPath, func(w io.Writer) error { return t.Write(w, each) }); err != nil {
		return nil, err
	}
	if t.Rows > votableMaxRows {
		if err := os.Remove(votPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return []string{fitsPath}, nil
	}
	vt := votable.Table{Resource: "sslens", Description: strings.Join(comments, "; "), Name: "scores", Fields: votable.Fields(rankedColumns)}
	if err := atomicfile.Write(votPath, func(w io.Writer) error { return vt.Write(w, each) }); err != nil {
		return nil, err
	}
	return []string{fitsPath, votPath}, nil
}

// ranked is one row of a ranking.
type ranked struct {
	file     string
	prob     float64
	ra, dec  string
	probText string // prob as written, so that merging rewrites nothing
}

// before orders rows as rankings list them.
func before(a, b ranked) int {
	return cmp.Or(cmp.Compare(b.prob, a.prob), cmp.Compare(a.file, b.file))
}

// sortChunk is how many rows the external sort holds at once (about
// 150 bytes each with their file names).
var sortChunk = 200_000

// rank writes out's ranking of the rows next yields (in any order) with
// at most sortChunk of them in memory: sorted runs go to temporary files
// beside out, then merge.
func rank(out string, next func() (ranked, bool, error)) error {
	dir := filepath.Dir(out)
	var runs []string
	defer func() {
		for _, r := range runs {
			os.Remove(r)
		}
	}()
	chunk := make([]ranked, 0, min(sortChunk, 1024))
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		slices.SortFunc(chunk, before)
		f, err := os.CreateTemp(dir, ".rank-run-*.csv")
		if err != nil {
			return fmt.Errorf("scoring: %w", err)
		}
		runs = append(runs, f.Name())
		err = writeRows(f, func(yield func(ranked) error) error {
			for _, r := range chunk {
				if err := yield(r); err != nil {
					return err
				}
			}
			return nil
		})
		chunk = chunk[:0]
		return errors.Join(err, f.Close())
	}
	for {
		r, ok, err := next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if chunk = append(chunk, r); len(chunk) == sortChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return Merge(out, runs)
}

// Merge writes out's ranking from rankings already sorted (ranked.csv
// files, such as the shards' of one survey), ranks numbered anew, holding
// one row of each in memory.
func Merge(out string, inputs []string) error {
	h := &rowHeap{}
	var readers []*csv.Reader
	for _, in := range inputs {
		f, rd, err := openRanking(in)
		if err != nil {
			return err
		}
		defer f.Close()
		readers = append(readers, rd)
		if err := h.pull(in, rd, len(readers)-1); err != nil {
			return err
		}
	}
	return atomicfile.Write(out, func(w io.Writer) error {
		return writeRows(w, func(yield func(ranked) error) error {
			for h.Len() > 0 {
				top := (*h)[0]
				if err := yield(top.row); err != nil {
					return err
				}
				heap.Pop(h)
				if err := h.pull(inputs[top.src], readers[top.src], top.src); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// openRanking opens a ranking for reading past its header, every row of
// rankedHeader's fields; a file whose header is not rankedHeader is not one.
func openRanking(path string) (*os.File, *csv.Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("scoring: %w", err)
	}
	rd := csv.NewReader(f)
	rd.FieldsPerRecord, rd.ReuseRecord = len(rankedHeader), true
	if head, err := rd.Read(); err != nil || !slices.Equal(head, rankedHeader) {
		f.Close()
		return nil, nil, fmt.Errorf("scoring: %s: not a ranking (its header is %q, want %q)", path, head, rankedHeader)
	}
	return f, rd, nil
}

// writeRows writes a ranking's header and the rows rows yields, numbered
// from 1.
func writeRows(w io.Writer, rows func(yield func(ranked) error) error) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(rankedHeader); err != nil {
		return err
	}
	n := 0
	err := rows(func(r ranked) error {
		n++
		return cw.Write([]string{strconv.Itoa(n), r.file, r.probText, r.ra, r.dec})
	})
	cw.Flush()
	return errors.Join(err, cw.Error())
}

// heapRow is a ranking's next row and which input it came from.
type heapRow struct {
	row ranked
	src int
}

type rowHeap []heapRow

func (h rowHeap) Len() int           { return len(h) }
func (h rowHeap) Less(i, j int) bool { return before(h[i].row, h[j].row) < 0 }
func (h rowHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *rowHeap) Push(x any)        { *h = append(*h, x.(heapRow)) }
func (h *rowHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// pull reads input src's next row onto the heap, if it has one.
func (h *rowHeap) pull(name string, rd *csv.Reader, src int) error {
	rec, err := rd.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scoring: %s: %w", name, err)
	}
	p, err := strconv.ParseFloat(rec[2], 64)
	if err != nil {
		return fmt.Errorf("scoring: %s: lens_prob %q: %w", name, rec[2], err)
	}
	heap.Push(h, heapRow{ranked{file: rec[1], prob: p, probText: rec[2], ra: rec[3], dec: rec[4]}, src})
	return nil
}

// Top reads the first n rows of the ranking at path (ranked.csv).
func Top(path string, n int) ([]shared.RankedCutout, error) {
	f, rd, err := openRanking(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []shared.RankedCutout
	for len(out) < n {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("scoring: %s: %w", path, err)
		}
		rank, err1 := strconv.ParseInt(rec[0], 10, 64)
		prob, err2 := strconv.ParseFloat(rec[2], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("scoring: %s: row %d: %w", path, len(out)+1, err)
		}
		row := shared.RankedCutout{Rank: rank, File: rec[1], LensProb: prob}
		if ra, err := strconv.ParseFloat(rec[3], 64); err == nil {
			row.RA = &ra
		}
		if dec, err := strconv.ParseFloat(rec[4], 64); err == nil {
			row.Dec = &dec
		}
		out = append(out, row)
	}
	return out, nil
}
