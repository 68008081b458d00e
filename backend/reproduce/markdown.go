package reproduce

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/shared"
)

// Markdown renders the results: the reference project's table layout (rows
// method x backbone, columns label counts) for test AUC and accuracy with
// intervals, the reference's published numbers beside them, the
// comparisons with supervised training, the ROC plots, and every cell.
func Markdown(r *layout.ReproduceResults) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Name)
	seeds := fmt.Sprintf("seed %d", r.Seeds[0])
	if len(r.Seeds) > 1 {
		seeds = fmt.Sprintf("%d seeds (%s)", len(r.Seeds), joinUints(r.Seeds))
	}
	fmt.Fprintf(&b, "Test split of `%s`: %d images (%d lenses, %d non-lenses). Backbones %s; %s. "+
		"Each classifier is tested at its last epoch (the reference protocol). Intervals are 95%% bootstrap intervals "+
		"over the test images (%d stratified resamples). Total wall time of the cells: %s.\n\n",
		r.Data, r.Test.Images, r.Test.Lenses, r.Test.NonLenses, strings.Join(r.Backbones, ", "), seeds,
		r.Bootstrap, duration(r.WallSeconds))
	if len(r.Deviations) > 0 {
		b.WriteString("## Deviations from the reference protocol\n\nWhere these cells differ from the reference project's configs and code, and why:\n\n")
		for _, d := range r.Deviations {
			fmt.Fprintf(&b, "- %s\n", d)
		}
		b.WriteString("\n")
	}
	cell := "value [95% interval]"
	if len(r.Seeds) > 1 {
		cell = "mean ± standard deviation over seeds [95% interval of the mean]"
	}
	for _, t := range []struct {
		title string
		get   func(layout.ResultRow) shared.Spread
		ref   func(layout.ReferenceRow) float64
		form  func(float64) string
	}{
		{"Test ROC AUC", func(r layout.ResultRow) shared.Spread { return r.AUC }, func(r layout.ReferenceRow) float64 { return r.AUC },
			func(v float64) string { return fmt.Sprintf("%.4f", v) }},
		{"Test accuracy", func(r layout.ResultRow) shared.Spread { return r.Accuracy }, func(r layout.ReferenceRow) float64 { return r.Accuracy },
			func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }},
	} {
		fmt.Fprintf(&b, "## %s\n\nCells: %s.", t.title, cell)
		if r.Reference != nil {
			b.WriteString(" Rows marked † are the reference project's published numbers, for comparison only (see the note below).")
		}
		b.WriteString("\n\n| method | backbone |")
		for _, l := range r.Labels {
			fmt.Fprintf(&b, " %s labels |", l)
		}
		b.WriteString("\n|---|---|" + strings.Repeat("---|", len(r.Labels)) + "\n")
		for _, m := range r.Methods {
			for _, bb := range r.Backbones {
				fmt.Fprintf(&b, "| %s | %s |", m, bb)
				for _, l := range r.Labels {
					fmt.Fprintf(&b, " %s |", spreadText(r, t.get(rowOf(r, m, bb, l)), t.form))
				}
				b.WriteString("\n")
			}
			if r.Reference == nil {
				continue
			}
			for _, bb := range referenceBackbones(r.Reference) {
				fmt.Fprintf(&b, "| %s † | %s |", m, bb)
				for _, l := range r.Labels {
					v := "–"
					if rr, ok := referenceRow(r.Reference, m, bb, l); ok {
						v = t.form(t.ref(rr))
					}
					fmt.Fprintf(&b, " %s |", v)
				}
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	if r.Reference != nil {
		fmt.Fprintf(&b, "† %s. **Caveat:** %s These numbers come from real survey images with larger backbones; "+
			"sslens's rows come from simulated images, so compare the trends across label counts and methods, not the values. "+
			"sslens draws its labelled subsets from the train split only, so its rows have no such leak. The reference scored "+
			"its AUC from one output logit; sslens scores it from the softmax probability of a lens, which ranks the images "+
			"by the difference of the two logits.\n\n", r.Reference.Source, r.Reference.Caveat)
	}
	comparisonMarkdown(&b, r)
	b.WriteString("## ROC curves\n\n")
	for _, p := range r.Plots {
		fmt.Fprintf(&b, "![%s, %s labels](%s)\n", p.Backbone, p.Labels, p.File)
	}
	cellsMarkdown(&b, r)
	b.WriteString("\n## How this was made\n\n")
	if r.Command != "" {
		fmt.Fprintf(&b, "```\n%s\n```\n\n", r.Command)
	}
	fmt.Fprintf(&b, "on %s, with this reproduce config:\n\n```yaml\n%s\n```\n", r.Created.Format(time.DateOnly), strings.TrimRight(r.Config, "\n"))
	return b.String()
}

// comparisonMarkdown writes the paired comparisons and, per backbone and
// label count, the verdict on the best SSL method.
func comparisonMarkdown(b *strings.Builder, r *layout.ReproduceResults) {
	if len(r.Comparisons) == 0 {
		return
	}
	first := r.Comparisons[0]
	level := fmt.Sprintf("%.2f%%", 100*first.AUC.Level)
	fmt.Fprintf(b, "## Does self-supervised pretraining beat supervised training?\n\n"+
		"Each SSL method against supervised training at the same backbone and label count: the difference of test AUC "+
		"(method minus supervised), each seed's difference (the two cells of a seed share its labelled subset), and an "+
		"interval from a hierarchical bootstrap (%d resamples): each resample draws the seeds with replacement and the "+
		"test images (stratified), and scores both sides' models of the drawn seeds on the same drawn images, so the "+
		"interval covers the spread between training runs as well as the sampling of the test images. The table makes "+
		"%d comparisons; each interval is at the %s level (Bonferroni), so that all its verdicts hold together with "+
		"%.0f%% confidence. A verdict of better or worse needs the whole interval on one side of 0. ",
		first.AUC.Resamples, first.Family, level, 100*familyConfidence)
	switch n := len(r.Seeds); {
	case n == 1:
		b.WriteString("With one seed the interval covers the test images only, not the spread between training runs, " +
			"which can be as large as the differences; list at least three seeds.")
	case n < 3:
		fmt.Fprintf(b, "With %d seeds the resampled seeds say little about the spread between training runs, "+
			"which can be as large as the differences; list at least three seeds.", n)
	}
	b.WriteString("\n\n| backbone | labels | method | test AUC | supervised | AUC difference | per seed | " +
		"[" + level + " interval] | accuracy difference [" + level + " interval] | AUC intervals overlap | verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.Comparisons {
		name := c.Method
		if c.Best {
			name = "**" + name + "**"
		}
		seeds := make([]string, len(c.SeedAUCDiffs))
		for i, d := range c.SeedAUCDiffs {
			seeds[i] = fmt.Sprintf("%+.4f", d)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.4f | %.4f | %+.4f | %s | [%+.4f, %+.4f] | %s | %s | %s |\n", c.Backbone, c.Labels, name,
			rowOf(r, c.Method, c.Backbone, c.Labels).AUC.Mean, rowOf(r, string(config.Supervised), c.Backbone, c.Labels).AUC.Mean,
			c.AUC.Diff, strings.Join(seeds, ", "), c.AUC.CI.Lo, c.AUC.CI.Hi, diffText(c.Accuracy, 100, "%+.2f"), yesNo(c.Overlap), c.Verdict)
	}
	b.WriteString("\nThe AUC intervals overlap column is the cruder test (the two rows' own 95% intervals over the test images).\n")
	b.WriteString("\nThe best SSL method (bold: the highest mean test AUC) against supervised training:\n\n")
	for _, c := range r.Comparisons {
		if !c.Best {
			continue
		}
		var verdict string
		switch c.Verdict {
		case shared.VerdictBetter:
			verdict = "beats supervised training beyond the seeds' spread and the test sampling"
		case shared.VerdictWorse:
			verdict = "is worse than supervised training beyond the seeds' spread and the test sampling"
		default:
			verdict = "is not distinguished from supervised training (the interval holds 0)"
		}
		fmt.Fprintf(b, "- %s, %s labels: %s %s: AUC difference %s.\n", c.Backbone, c.Labels, c.Method, verdict, diffText(c.AUC, 1, "%+.4f"))
	}
	b.WriteString("\nPicking the best of several methods on the test AUC favours it a little; the table above gives every method's own comparison.\n\n")
}

// cellsMarkdown lists every cell with its wall time and run folder.
func cellsMarkdown(b *strings.Builder, r *layout.ReproduceResults) {
	b.WriteString("\n## Cells\n\nRun folders are relative to the output folder; each holds config.resolved.yaml, metrics.jsonl and checkpoints")
	b.WriteString(", and a classifier's also report.md.\n\n")
	if len(r.Pretraining) > 0 {
		var total float64
		b.WriteString("| pretraining | backbone | seed | epochs | wall time | run |\n|---|---|---|---|---|---|\n")
		for _, p := range r.Pretraining {
			total += p.WallSeconds
			fmt.Fprintf(b, "| %s | %s | %d | %d | %s | `%s` |\n", p.Method, p.Backbone, p.Seed, p.Epochs, duration(p.WallSeconds), p.Run)
		}
		fmt.Fprintf(b, "\nPretraining in all: %s.\n\n", duration(total))
	}
	var total float64
	b.WriteString("| classifier | backbone | labels | seed | train images | epochs | wall time | test accuracy | test AUC | run |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		for _, s := range row.Seeds {
			total += s.WallSeconds
			fmt.Fprintf(b, "| %s | %s | %s | %d | %d | %d | %s | %.2f%% | %.4f | `%s` |\n", row.Method, row.Backbone, row.Labels,
				s.Seed, row.TrainImages, s.Epochs, duration(s.WallSeconds), 100*s.Accuracy, s.AUC, s.Run)
		}
	}
	fmt.Fprintf(b, "\nClassifiers in all: %s.\n", duration(total))
}

// rowOf returns the row of method, backbone and labels; collect makes one
// for every combination.
func rowOf(r *layout.ReproduceResults, method, backbone, labels string) layout.ResultRow {
	for _, row := range r.Rows {
		if row.Method == method && row.Backbone == backbone && row.Labels == labels {
			return row
		}
	}
	return layout.ResultRow{}
}

// referenceRow returns the reference row of method and backbone at a
// label count: the number itself, or for all the full train split (any
// count above 1200).
func referenceRow(ref *layout.ReferenceResults, method, backbone, labels string) (layout.ReferenceRow, bool) {
	for _, row := range ref.Rows {
		if row.Method != method || row.Backbone != backbone {
			continue
		}
		if n, err := strconv.Atoi(labels); (err == nil && row.Labels == n) || (labels == "all" && row.Labels > 1200) {
			return row, true
		}
	}
	return layout.ReferenceRow{}, false
}

// referenceBackbones lists the reference's backbones in their first
// appearance's order.
func referenceBackbones(ref *layout.ReferenceResults) []string {
	var out []string
	for _, row := range ref.Rows {
		if !slices.Contains(out, row.Backbone) {
			out = append(out, row.Backbone)
		}
	}
	return out
}

// spreadText renders a table cell: the value (one seed) or the mean and
// standard deviation (several), then the interval.
func spreadText(r *layout.ReproduceResults, s shared.Spread, form func(float64) string) string {
	v := form(s.Mean)
	if len(r.Seeds) > 1 {
		v += " ± " + strings.TrimSuffix(form(s.Std), "%")
	}
	return fmt.Sprintf("%s [%s, %s]", v, strings.TrimSuffix(form(s.CI.Lo), "%"), strings.TrimSuffix(form(s.CI.Hi), "%"))
}

func diffText(d eval.Diff, scale float64, format string) string {
	return fmt.Sprintf(format+" ["+format+", "+format+"]", scale*d.Diff, scale*d.CI.Lo, scale*d.CI.Hi)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// duration renders seconds as 1 h 02 min, 12 min 05 s or 9.5 s.
func duration(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%.1f s", s)
}

func joinUints(v []uint64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
