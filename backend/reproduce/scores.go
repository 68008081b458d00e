package reproduce

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/ssl"
)

// testScores is a classifier cell's layout.ScoresFile.
type testScores struct {
	Names  []string  `json:"names"`
	Labels []int     `json:"labels"`
	Scores []float64 `json:"scores"` // P(lens) of the last epoch's model
}

// ensureScores writes a finished classifier's ScoresFile if an earlier
// run ended before writing it.
func ensureScores(ctx context.Context, c *Cell, opt Options) error {
	if layout.IsFile(c.run().Path(layout.ScoresFile)) {
		return nil
	}
	return writeScores(ctx, c, opt)
}

// writeScores scores the test split with the cell's checkpoints/last, the
// last epoch's model its report tests, and writes ScoresFile. The scores
// must give the report's test AUC: a check that the two describe the same
// model on the same images.
func writeScores(ctx context.Context, c *Cell, opt Options) error {
	rep, err := readReport(c)
	if err != nil {
		return err
	}
	last := c.run().Path(layout.LastDir)
	ck, err := ssl.LoadCheckpoint(last)
	if err != nil {
		return err
	}
	if ck.Sidecar.Epoch != rep.Last.Epoch {
		return fmt.Errorf("reproduce: %s holds epoch %d, %s tests epoch %d", last, ck.Sidecar.Epoch, layout.ReportJSON, rep.Last.Epoch)
	}
	cfg := c.Config
	splits, err := data.ReadSplits(cmp.Or(cfg.Input.Indices, data.SplitsFile(cfg.Input.DataPath)))
	if err != nil {
		return err
	}
	test, err := ssl.LoadSet(cfg.Input.DataPath, splits.Test, cfg.Input.ImageSize[0], ck.Norm)
	if err != nil {
		return err
	}
	m, err := opt.NewModel(ck.Params, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	p, err := ssl.Predict(ctx, m, test, nil)
	if err != nil {
		return err
	}
	auc, err := eval.AUC(p, test.Labels)
	if err != nil {
		return err
	}
	// Float noise can only swap near-tied scores; a wrong model or
	// normalisation moves the AUC by far more.
	if math.Abs(auc-rep.Last.Test.AUC) > 1e-3 {
		return fmt.Errorf("reproduce: %s: its checkpoints/last scores the test split with AUC %.4f, its report says %.4f",
			c.Dir, auc, rep.Last.Test.AUC)
	}
	b, err := json.Marshal(testScores{Names: test.Names, Labels: test.Labels, Scores: p})
	if err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	return writeFile(c.run().Path(layout.ScoresFile), append(b, '\n'))
}

// readReport reads a classifier cell's report.json.
func readReport(c *Cell) (*layout.Report, error) {
	rep, err := c.run().ReadReport()
	if err != nil {
		return nil, fmt.Errorf("reproduce: %w", err)
	}
	return rep, nil
}

func readScores(c *Cell) (*testScores, error) {
	path := c.run().Path(layout.ScoresFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reproduce: %w", err)
	}
	var s testScores
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reproduce: %s: %w", path, err)
	}
	if len(s.Names) != len(s.Scores) || len(s.Labels) != len(s.Scores) {
		return nil, fmt.Errorf("reproduce: %s: %d names, %d labels, %d scores", path, len(s.Names), len(s.Labels), len(s.Scores))
	}
	return &s, nil
}
