package reproduce

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/render"
)

// write writes results.json, results.md and one ROC plot per backbone and
// label count (a curve per method and seed) into dir.
func (r *collected) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	for _, p := range r.Plots {
		title := fmt.Sprintf("%s, %s labels: test ROC (%d images)", p.Backbone, p.Labels, r.Test.Images)
		img, err := render.ROC(title, r.curves(p))
		if err != nil {
			return fmt.Errorf("reproduce: %s: %w", p.File, err)
		}
		if err := render.WritePNG(filepath.Join(dir, p.File), img); err != nil {
			return err
		}
	}
	if err := layout.WriteResults(dir, r.ReproduceResults); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	return writeFile(filepath.Join(dir, layout.ResultsMD), []byte(Markdown(r.ReproduceResults)))
}

// curves are the ROC curves of plot p: one per method and seed, in the
// method's colour, with a legend entry per method.
func (r *collected) curves(p layout.ROCPlot) []render.ROCCurve {
	var curves []render.ROCCurve
	for _, m := range r.Methods {
		row := r.rows[rowKey(m, p.Backbone, p.Labels)]
		for i, roc := range row.roc {
			c := render.ROCCurve{Colour: methodColour(m), Points: roc}
			if i == 0 {
				c.Legend = fmt.Sprintf("%s, AUC %.3f", m, row.AUC.Mean)
				if len(row.roc) > 1 {
					c.Legend += fmt.Sprintf(" (mean of %d seeds)", len(row.roc))
				}
			}
			curves = append(curves, c)
		}
	}
	return curves
}

// methodColour is each method's curve colour (a colour-blind-safe set).
func methodColour(m string) color.RGBA {
	switch config.Method(m) {
	case config.DINO:
		return color.RGBA{0, 114, 178, 255} // blue
	case config.IBOT:
		return color.RGBA{213, 94, 0, 255} // vermilion
	case config.SimSiam:
		return color.RGBA{0, 158, 115, 255} // green
	}
	return color.RGBA{0, 0, 0, 255} // supervised
}
