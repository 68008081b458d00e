package sim

import (
	"testing"
)

// realismEvery: TestRealismTargets measures every realismEvery-th image of
// the seed-sized dataset (about 340 images: 200 lenses).
const realismEvery = 15

// The default dataset meets the realism targets of presets.yaml, each with
// the tolerance its sample size allows (see the README's realism table for
// the sources). Measure is deterministic, so a failure is a real change.
func TestRealismTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("renders and measures about 340 stamps")
	}
	cfg := testConfig(t, "seed")
	rep, err := Measure(cfg, realismEvery, nil)
	if err != nil {
		t.Fatal(err)
	}
	pop := cfg.Population
	in := func(what string, got, lo, hi float64) {
		t.Helper()
		if !(got >= lo && got <= hi) {
			t.Errorf("%s = %.4g, want within [%g, %g]", what, got, lo, hi)
		} else {
			t.Logf("%s = %.4g (target [%g, %g])", what, got, lo, hi)
		}
	}

	// 1. Arcs near the detection limit (LensPop).
	a := rep.ArcSNR
	in("best-band arc S/N, median", a.Best.Median, 30, 55)
	in("best-band arc S/N, minimum", a.Best.Min, 0.9*pop.Source.MinSNR, 1e9)
	in("N(S/N > 40) / N(S/N > 20)", a.Ratio40To20, 0.4, 0.65)

	// 2. Coadd-like noise: correlated between neighbours, at the real
	// cutouts' inverse-variance level (presets.yaml explains the choice).
	for k, want := range [3]float64{0.037, 0.054, 0.069} {
		name := []string{"g", "r", "i"}[k]
		in("sky sigma / PDR3 robust sigma, "+name, rep.Noise[k].Sigma/want, 0.8, 1.05)
		in("neighbour noise correlation x, "+name, rep.Noise[k].CorrX, 0.05, 0.3)
		in("neighbour noise correlation y, "+name, rep.Noise[k].CorrY, 0.05, 0.3)
	}

	// 3. A lens population tied to redshift.
	c := rep.Colours
	in("g-r scatter at fixed z", c.GRScatter, 0, 0.1)
	in("fraction of z > 0.4 lenses passing CMASS d_perp > 0.55", c.CMASSPass, 0.95, 1)
	first, last := c.ByRedshift[0], c.ByRedshift[len(c.ByRedshift)-2]
	in("g-r reddening from z 0.3-0.4 to 0.7-0.8", last.GR-first.GR, 0.2, 0.8)
	in("r-i reddening from z 0.3-0.4 to 0.7-0.8", last.RI-first.RI, 0.3, 0.9)
	in("theta_E median (arcsec)", rep.ThetaE.Median, 1.1, 1.45)
	in("fraction theta_E > 2\"", rep.ThetaEOver2, 0.07, 0.2)
	in("theta_E maximum", rep.ThetaE.Max, 2.2, pop.Mass.ThetaERange[1])
	in("external shear median", rep.Shear.Median, 0.045, 0.065)

	// 4. Field contaminants from number counts.
	n := rep.Neighbours
	in("neighbours per arcmin^2 at i < 24.5", n.PerArcmin2I245, 18, 32)
	in("fraction of those brighter than i = 22", n.FracBrighterI22, 0.08, 0.22)

	// 6. Hard negatives: no single simple feature separates the classes.
	in("best single-feature AUC", rep.Leakage.Best, 0.5, 0.6)

	// The flux scale stays the real data's.
	for k, name := range []string{"g", "r", "i"} {
		in("centre-crop mean / real, "+name, rep.Crop.Mean[k]/RealCropMean[k], 0.85, 1.15)
		in("centre-crop std / real, "+name, rep.Crop.Std[k]/RealCropStd[k], 0.75, 1.35)
	}
}
