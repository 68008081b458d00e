package sim

import (
	"fmt"
	"strings"
)

// Markdown renders the report as Markdown: a table per section, our figure
// beside the target or published figure and its source (issue 16's
// references).
func (r Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	row := func(measure, ours, target string) { p("| %s | %s | %s |\n", measure, ours, target) }
	head := func(title string) {
		p("\n## %s\n\n| measure | ours | target / published |\n|---|---|---|\n", title)
	}
	sp := func(s Spread) string {
		return fmt.Sprintf("%.3g (16-84%%: %.3g-%.3g)", s.Median, s.P16, s.P84)
	}
	q := func(s Spread) string {
		return fmt.Sprintf("%.3g / %.3g / %.3g / %.3g / %.3g", s.P5, s.P16, s.Median, s.P84, s.P95)
	}
	band3 := func(f func(c int) float64, format string) string {
		return fmt.Sprintf(format+" / "+format+" / "+format, f(0), f(1), f(2))
	}

	p("# Simulator realism report\n\n")
	p("Survey %s, seed %d, %d px stamps; images 0, %d, %d, ... measured: %d images (%d lenses, %d non-lenses).\n",
		r.Survey, r.Seed, r.Size, r.Every, 2*r.Every, r.Images, r.Lenses, r.NonLenses)

	a := &r.ArcSNR
	head("Arc S/N (LensPop: pixels where the lensed source exceeds the noise sigma)")
	for c, name := range []string{"g", "r", "i"} {
		row(name+" band: median (16-84%)", sp(a.Bands[c]), "")
	}
	row("best band: median (16-84%)", sp(a.Best), "~40 (issue 16: searches live near the detection limit)")
	row("best band: minimum", fmt.Sprintf("%.3g", a.Best.Min), ">= 20, detectable at S/N >= 20 (Collett 2015)")
	row("N(S/N > 40) / N(S/N > 20)", fmt.Sprintf("%.2f (%d / %d)", a.Ratio40To20, a.Above40, a.Above20),
		"~0.5: doubling the threshold halves the lenses (Collett 2015)")

	head("Noise (noisy minus noise-free; images with a bad column left out of that band)")
	row("sky sigma g / r / i, 1.4826 MAD (counts/s, zp 27)", band3(func(c int) float64 { return r.Noise[c].Sigma }, "%.4f"),
		"~0.037 / 0.054 / 0.069 (HSC PDR3 coadd cutouts, robust); their inverse-variance level, 1/1.12 of it: 0.033 / 0.048 / 0.062")
	row("model sky sigma g / r / i", band3(func(c int) float64 { return r.Noise[c].ModelSigma }, "%.4f"), "")
	row("neighbour correlation x, g / r / i", band3(func(c int) float64 { return r.Noise[c].CorrX }, "%.3f"),
		"> 0: coadds are warped and stacked, robust sigma ~1.12x the inverse-variance sigma (HSC PDR3)")
	row("neighbour correlation y, g / r / i", band3(func(c int) float64 { return r.Noise[c].CorrY }, "%.3f"), "as x")

	head("Lens colours (central galaxy of each lens)")
	row("g - r: median (16-84%)", sp(r.Colours.GR), "red sequence, scatter <= 0.1 at fixed z; 0.6 < g - r < 3 (Jacobs et al.)")
	row("r - i: median (16-84%)", sp(r.Colours.RI), "")
	row("correlation of g - r with r - i", fmt.Sprintf("%.2f", r.Colours.Corr), "> 0: both redden with z along the red sequence")
	row("lens redshift, 5 / 16 / 50 / 84 / 95%", q(r.Colours.Redshift), "0.3-0.9 (SL2S, SuGOHI)")
	for _, zb := range r.Colours.ByRedshift {
		if zb.N > 0 {
			row(fmt.Sprintf("median g - r / r - i at z %.1f-%.1f", zb.ZLo, zb.ZHi), fmt.Sprintf("%.2f / %.2f (%d lenses)", zb.GR, zb.RI, zb.N), "red-sequence track (Maraston et al. 2009)")
		}
	}
	row("g - r scatter at fixed z (bins of 0.05)", fmt.Sprintf("%.3f", r.Colours.GRScatter), "<= 0.1")
	row("z > 0.4 lenses passing CMASS d_perp > 0.55", fmt.Sprintf("%.3f", r.Colours.CMASSPass), "all (BOSS CMASS selection, Reid et al. 2016)")

	head("Lens mass")
	row("theta_E (\"), 5 / 16 / 50 / 84 / 95%", q(r.ThetaE), "peak near 1.27\", up to ~3\" (SL2S sample in LensPop)")
	row("fraction with theta_E > 2\"", fmt.Sprintf("%.3f", r.ThetaEOver2), "~0.13 (SL2S sample in LensPop)")
	row("external shear strength sqrt(g1^2 + g2^2), 5 / 16 / 50 / 84 / 95%", q(r.Shear), "median ~0.05-0.06 (SLACS)")

	n := &r.Neighbours
	head("Field galaxies inside the stamps")
	row("neighbours per arcmin^2, all", fmt.Sprintf("%.1f (%d in %.2f arcmin^2)", n.PerArcmin2, n.InsideStamps, n.StampAreaArcmin2), "")
	row("neighbours per arcmin^2, i < 24.5", fmt.Sprintf("%.1f", n.PerArcmin2I245), "~25 (HSC number counts)")
	row("fraction of the i < 24.5 ones brighter than i = 22", fmt.Sprintf("%.3f", n.FracBrighterI22), "~0.15 (number counts N(<m) ~ 10^(0.33 m))")

	l := &r.Leakage
	head("Leakage: single features of the noisy 32x32 centre crop (AUC, lens positive)")
	row("g - i colour of the 0.6\"-2.0\" annulus", fmt.Sprintf("%.3f", l.AnnulusColourAUC), "")
	row("asymmetry (1 - corr with 180-degree rotation, i)", fmt.Sprintf("%.3f", l.AsymmetryAUC), "")
	row("best single feature, max(AUC, 1 - AUC)", fmt.Sprintf("%.3f", l.Best), "<= 0.6 (issue 16)")

	c := &r.Crop
	head("32x32 centre crops")
	row("mean g / r / i", band3(func(k int) float64 { return c.Mean[k] }, "%.4f"),
		band3(func(k int) float64 { return c.RefMean[k] }, "%.4f")+" (real data, the seed's train crops)")
	row("mean per-image std g / r / i", band3(func(k int) float64 { return c.Std[k] }, "%.4f"),
		band3(func(k int) float64 { return c.RefStd[k] }, "%.4f")+" (real data)")
	return b.String()
}
