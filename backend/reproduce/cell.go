package reproduce

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/layout"
)

// cellRecord is a cell's layout.CellFile.
type cellRecord struct {
	Cell        string  `json:"cell"`
	WallSeconds float64 `json:"wall_seconds"` // summed over the sessions that trained it
	Sessions    int     `json:"sessions"`
	Finished    bool    `json:"finished"`
}

// readCellRecord reads dir's CellFile; a missing one is an empty record.
func readCellRecord(dir string) (cellRecord, error) {
	var rec cellRecord
	path := layout.Run(dir).Path(layout.CellFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		return rec, fmt.Errorf("reproduce: %s: %w", path, err)
	}
	return rec, nil
}

func writeCellRecord(dir string, rec cellRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	return writeFile(layout.Run(dir).Path(layout.CellFile), append(b, '\n'))
}

// addSession adds a session of seconds to c's CellFile.
func addSession(c *Cell, seconds float64, finished bool) (cellRecord, error) {
	rec, err := readCellRecord(c.Dir)
	if err != nil {
		return rec, err
	}
	rec.Cell, rec.Finished = c.Name(), finished
	rec.WallSeconds += seconds
	rec.Sessions++
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return rec, fmt.Errorf("reproduce: %w", err)
	}
	return rec, writeCellRecord(c.Dir, rec)
}

// cellSeconds is the wall time of a finished cell: its CellFile's, or,
// for a run that ended before writing one, the span of its metrics
// stream.
func cellSeconds(c *Cell) (float64, error) {
	rec, err := readCellRecord(c.Dir)
	if err != nil || rec.Sessions > 0 {
		return rec.WallSeconds, err
	}
	recs, err := layout.ReadMetrics(c.run().Path(layout.MetricsFile))
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return recs[len(recs)-1].Time.Sub(recs[0].Time).Seconds(), nil
}

// writeFile writes b to path atomically.
func writeFile(path string, b []byte) error {
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	return nil
}
