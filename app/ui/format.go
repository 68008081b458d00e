package ui

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/shared"
)

// percent formats a fraction as a percentage with one decimal.
func percent(f float64) string {
	if math.IsNaN(f) {
		return "–"
	}
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}

// interval formats a fraction's 95% interval as "92.1–94.6" in percent,
// or as fractions to three decimals when asPercent is false (AUC).
func interval(ci *shared.Interval, asPercent bool) string {
	if ci == nil {
		return ""
	}
	if asPercent {
		return fmt.Sprintf("%.1f–%.1f", 100*ci.Lo, 100*ci.Hi)
	}
	return fmt.Sprintf("%.3f–%.3f", ci.Lo, ci.Hi)
}

// levelText names an interval's level when it is not 95% (results made
// before levels were recorded have none): " at 99.58%".
func levelText(level float64) string {
	if level == 0 || level == 0.95 {
		return ""
	}
	return fmt.Sprintf(" at %.2f%%", 100*level)
}

// plural counts things: "1 file", "3 files".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// byteSize formats a size in bytes with SI prefixes.
func byteSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, prefix := float64(n), ""
	for _, p := range []string{"k", "M", "G", "T"} {
		v /= unit
		prefix = p
		if v < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f %sB", v, prefix)
}

// ago says how long before now t was, coarsely ("just now", "5 min ago").
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return t.Local().Format("2 Jan 2006")
}

// duration formats an elapsed time as "1h 02m", "3m 05s" or "12s".
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// stateBadge shows a run's state in its colour.
func stateBadge(s shared.RunState) app.UI {
	return app.Span().Class("badge state-" + string(s)).Text(string(s))
}

// progressBar shows a run's progress, or nothing when it has none.
func progressBar(p *shared.Progress) app.UI {
	if p == nil || p.Total <= 0 {
		return app.Div().Class("muted small").Text("no progress reported yet")
	}
	text := fmt.Sprintf("%d / %d %s", p.Done, p.Total, p.Unit)
	if p.TotalEpochs > 0 {
		text = fmt.Sprintf("epoch %d / %d · %s", p.Epoch, p.TotalEpochs, text)
	}
	if p.Rate > 0 {
		text += fmt.Sprintf(" · %.0f %s/s", p.Rate, p.Unit)
	}
	if p.SecondsLeft > 0 && p.Done < p.Total {
		text += " · " + duration(time.Duration(p.SecondsLeft*float64(time.Second))) + " left"
	}
	return app.Div().Class("progress").Role("progressbar").
		Aria("valuemin", 0).Aria("valuemax", 100).Aria("valuenow", int(math.Round(100*p.Fraction))).
		Aria("valuetext", text).Body(
		app.Div().Class("progress-fill").Style("width", strconv.FormatFloat(100*p.Fraction, 'f', 1, 64)+"%"),
		app.Span().Class("progress-text").Text(text),
	)
}
