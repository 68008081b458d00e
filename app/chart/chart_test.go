package chart

import (
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/maxence-charriere/go-app/v9/pkg/app"
)

func TestNiceAxis(t *testing.T) {
	tests := []struct {
		name          string
		lo, hi        float64
		n             int
		fixed         bool
		wantMin, wMax float64
		wantTicks     []float64
	}{
		{"loss", 0.23, 0.71, 5, false, 0.2, 0.8, []float64{0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}},
		{"steps", 0, 937, 6, false, 0, 1000, []float64{0, 200, 400, 600, 800, 1000}},
		{"fixed roc", 0, 1, 5, true, 0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{"no data", math.Inf(1), math.Inf(-1), 5, false, 0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{"one value", 3, 3, 5, false, 2.6, 3.4, []float64{2.6, 2.8, 3, 3.2, 3.4}},
		{"tiny lr", 1e-8, 1e-4, 5, false, 0, 1e-4, []float64{0, 2e-5, 4e-5, 6e-5, 8e-5, 1e-4}},
	}
	for _, tt := range tests {
		a := niceAxis(tt.lo, tt.hi, tt.n, tt.fixed)
		if math.Abs(a.Min-tt.wantMin) > 1e-12 || math.Abs(a.Max-tt.wMax) > 1e-12 {
			t.Errorf("%s: domain [%g, %g], want [%g, %g]", tt.name, a.Min, a.Max, tt.wantMin, tt.wMax)
		}
		if len(a.Ticks) != len(tt.wantTicks) {
			t.Errorf("%s: ticks %v, want %v", tt.name, a.Ticks, tt.wantTicks)
			continue
		}
		for i := range a.Ticks {
			if math.Abs(a.Ticks[i]-tt.wantTicks[i]) > 1e-12 {
				t.Errorf("%s: ticks %v, want %v", tt.name, a.Ticks, tt.wantTicks)
				break
			}
		}
	}
}

func TestTickAndValue(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Tick(0.4, Axis{Min: 0, Max: 1, Ticks: []float64{0, 0.2, 0.4}}), "0.4"},
		{Tick(400, Axis{Min: 0, Max: 1000, Ticks: []float64{0, 200, 400}}), "400"},
		{Tick(0.05, Axis{Min: 0, Max: 0.1, Ticks: []float64{0, 0.05, 0.1}}), "0.05"},
		{Tick(2e-5, Axis{Min: 0, Max: 1e-4, Ticks: []float64{0, 2e-5}}), "2.0e-05"},
		{Tick(0, Axis{Min: 0, Max: 1e-4, Ticks: []float64{0, 2e-5}}), "0"},
		{Value(0.53214), "0.5321"},
		{Value(1234.5), "1234"},
		{Value(1e-8), "1.00e-08"},
		{Value(0), "0"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestThin(t *testing.T) {
	ps := make([]Point, 1000)
	for i := range ps {
		ps[i] = Point{X: float64(i)}
	}
	tests := []struct {
		n, max int
		want   int
	}{
		{10, 600, 10},
		{600, 600, 600},
		{1000, 600, 501}, // every 2nd point plus the last
		{1000, 10, 10},
	}
	for _, tt := range tests {
		got := Thin(ps[:tt.n], tt.max)
		if len(got) != tt.want || len(got) > tt.max {
			t.Errorf("Thin(%d, %d) kept %d, want %d", tt.n, tt.max, len(got), tt.want)
		}
		if got[0] != ps[0] || got[len(got)-1] != ps[tt.n-1] {
			t.Errorf("Thin(%d, %d) lost an end: %v .. %v", tt.n, tt.max, got[0], got[len(got)-1])
		}
	}
}

func TestPath(t *testing.T) {
	f := Frame{Left: 0, Right: 100, Top: 0, Bottom: 100, X: Axis{Min: 0, Max: 10}, Y: Axis{Min: 0, Max: 1}}
	got := f.Path([]Point{{0, 0}, {5, 0.5}, {6, math.NaN()}, {10, 1}})
	want := "M0.0 100.0L50.0 50.0M100.0 0.0" // the NaN breaks the line
	if got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}

func TestLayoutFixedRanges(t *testing.T) {
	f := Layout([]Series{{Points: []Point{{0.1, 0.2}, {0.3, 2}}}}, 480, 240, Range{Min: 0, Max: 1}, Range{})
	if f.X.Min != 0 || f.X.Max != 1 {
		t.Errorf("fixed x = [%g, %g]", f.X.Min, f.X.Max)
	}
	if f.Y.Min > 0.2 || f.Y.Max < 2 {
		t.Errorf("fitted y [%g, %g] does not cover [0.2, 2]", f.Y.Min, f.Y.Max)
	}
	if f.PX(0) != f.Left || f.PX(1) != f.Right || f.PY(f.Y.Min) != f.Bottom || f.PY(f.Y.Max) != f.Top {
		t.Errorf("domain ends do not map to the plot edges: %+v", f)
	}
}

// The component renders one path per series with its point count and a
// legend holding each series' last value.
func TestLineComponent(t *testing.T) {
	c := &Line{
		Title:  "loss",
		XLabel: "step",
		Series: []Series{
			{Name: "train", Points: []Point{{1, 0.9}, {2, 0.7}, {3, 0.5}}},
			{Name: "val", Points: []Point{{3, 0.6}}},
		},
	}
	disp := app.NewClientTester(c)
	defer disp.Close()

	if err := app.TestMatch(c, app.TestUIDescriptor{
		Path:     app.TestPath(0, 0, 1),
		Expected: app.Span().Class("legend").Style("--series", palette[0]).Text("train 0.5"),
	}); err != nil {
		t.Error(err)
	}
	if err := app.TestMatch(c, app.TestUIDescriptor{
		Path:     app.TestPath(0, 0, 2, 0),
		Expected: app.Text("val 0.6"),
	}); err != nil {
		t.Error(err)
	}

	var b strings.Builder
	app.PrintHTML(&b, c)
	html := b.String()
	for _, want := range []string{`data-points="4"`, `data-points="3"`, `data-points="1"`, `aria-label="loss"`, `<title>train: 0.5 at 3</title>`} {
		if !strings.Contains(html, want) {
			t.Errorf("rendered chart lacks %s:\n%s", want, html)
		}
	}
	if strings.Contains(html, `data-role="empty"`) {
		t.Error("a chart with points shows its empty text")
	}
}

func TestPlainLegend(t *testing.T) {
	c := &Line{Title: "ROC", PlainLegend: true, Series: []Series{{Name: "run 3", Points: []Point{{0, 0}, {1, 1}}}}}
	disp := app.NewClientTester(c)
	defer disp.Close()
	if err := app.TestMatch(c, app.TestUIDescriptor{Path: app.TestPath(0, 0, 1, 0), Expected: app.Text("run 3")}); err != nil {
		t.Error(err)
	}
}

func TestLineEmpty(t *testing.T) {
	c := &Line{Title: "kNN accuracy", Empty: "waiting for the first evaluation", Series: []Series{{Name: "val"}}}
	disp := app.NewClientTester(c)
	defer disp.Close()
	var b strings.Builder
	app.PrintHTML(&b, c)
	if !strings.Contains(b.String(), "waiting for the first evaluation") {
		t.Errorf("empty chart lacks its message:\n%s", b.String())
	}
	if got := Layout(c.Series, 480, 240, Range{}, Range{}); !reflect.DeepEqual(got.X.Ticks[:2], []float64{0, 0.2}) {
		t.Errorf("empty chart x ticks %v", got.X.Ticks)
	}
}

// A log x axis spans decades from its floor: 1e-3 at the left edge, 1 at
// the right, 1e-2 a third of the way; values below the floor sit on it;
// ticks read 0.001 to 1; the chance line y = x is a curve.
func TestLogX(t *testing.T) {
	f := Layout(nil, 480, 240, Range{Min: 0, Max: 1}, Range{Min: 0, Max: 1}).LogXFrom(1e-3)
	w := f.Right - f.Left
	for _, tc := range []struct{ x, want float64 }{{1e-3, f.Left}, {1, f.Right}, {1e-2, f.Left + w/3}, {0, f.Left}, {1e-6, f.Left}} {
		if got := f.PX(tc.x); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("PX(%g) = %g, want %g", tc.x, got, tc.want)
		}
	}
	var ticks []string
	for _, v := range f.X.Ticks {
		ticks = append(ticks, f.tickX(v))
	}
	if strings.Join(ticks, " ") != "0.001 0.01 0.1 1" {
		t.Errorf("ticks %v", ticks)
	}
	c := &Line{Series: []Series{{Name: "roc", Points: []Point{{0, 0}, {0.01, 0.5}, {1, 1}}}}, X: Range{Max: 1}, Y: Range{Max: 1}, Diagonal: true, LogX: 1e-3}
	var b strings.Builder
	app.PrintHTML(&b, c)
	// go-app writes attributes in map order: find the chance element first.
	html := b.String()
	if chance := regexp.MustCompile(`<path[^>]*data-role="chance"[^>]*>`).FindString(html); !strings.Contains(chance, ` d="M`) || !strings.Contains(html, ">0.001<") {
		t.Errorf("log ROC chart:\n%s", html)
	}
}

// The scale bar is the longest round length within a third of the image;
// the compass's arrows point along north and east.
func TestSkyOverlay(t *testing.T) {
	for _, tc := range []struct {
		width       int
		scale, want float64
	}{{64, 0.168, 2}, {32, 0.168, 1}, {101, 0.262, 5}, {10, 0.01, 0}, {400, 1, 120}} {
		got, px := ScaleBar(tc.width, tc.scale)
		if got != tc.want || (got > 0 && math.Abs(px-got/tc.scale) > 1e-12) || float64(tc.width)*tc.scale/3 < got {
			t.Errorf("ScaleBar(%d px, %g\"/px) = %g\", %g px; want %g\"", tc.width, tc.scale, got, px, tc.want)
		}
	}
	var b strings.Builder
	app.PrintHTML(&b, SkyOverlay(64, 64, 0.168, [2]float64{0, 1}, [2]float64{-1, 0}))
	html := b.String()
	el := func(re string) string { return regexp.MustCompile(re).FindString(html) }
	bar := el(`<line[^>]*data-role="scale-bar"[^>]*>`)
	x1, _ := strconv.ParseFloat(regexp.MustCompile(`x1="([0-9.]+)"`).FindStringSubmatch(bar)[1], 64)
	x2, _ := strconv.ParseFloat(regexp.MustCompile(`x2="([0-9.]+)"`).FindStringSubmatch(bar)[1], 64)
	if math.Abs(x2-x1-2/0.168) > 0.1 || !strings.Contains(html, ">2″<") || !strings.Contains(html, `viewBox="0 0 64 64"`) {
		t.Errorf("scale bar %q (%.1f px) in\n%s", bar, x2-x1, html)
	}
	// North (0, 1) points down the image from the compass's centre, east left.
	north := el(`<line[^>]*data-dir="N"[^>]*>`)
	east := el(`<line[^>]*data-dir="E"[^>]*>`)
	for _, c := range []struct{ line, attr, want string }{
		{north, "x2", "51.2"}, {north, "y2", "19.8"}, {east, "x2", "44.2"}, {east, "y2", "12.8"},
	} {
		if !strings.Contains(c.line, c.attr+`="`+c.want+`"`) {
			t.Errorf("compass line %q: want %s=%s", c.line, c.attr, c.want)
		}
	}
	if arcsecText(120) != "2′" || arcsecText(0.5) != "0.5″" {
		t.Errorf("labels %q %q", arcsecText(120), arcsecText(0.5))
	}
}
