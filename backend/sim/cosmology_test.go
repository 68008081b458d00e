package sim

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// Distances and Einstein radii against astropy's FlatLambdaCDM(H0=70,
// Om0=0.3, Tcmb0=0) (testdata/make_cosmology.py writes the values).
func TestCosmologyMatchesAstropy(t *testing.T) {
	b, err := os.ReadFile("testdata/cosmology.json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		ZL           float64 `json:"zl"`
		ZS           float64 `json:"zs"`
		Sigma        float64 `json:"sigma"`
		ComovingZL   float64 `json:"comoving_zl"`
		LuminosityZL float64 `json:"luminosity_zl"`
		AngularZL    float64 `json:"angular_zl"`
		AngularZLZS  float64 `json:"angular_zl_zs"`
		ThetaE       float64 `json:"theta_e"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no reference rows")
	}
	check := func(what string, got, want float64) {
		if !(math.Abs(got/want-1) < 1e-6) {
			t.Errorf("%s: %.9g, astropy %.9g", what, got, want)
		}
	}
	for _, r := range rows {
		check("comoving distance", comovingDistance(r.ZL), r.ComovingZL)
		check("luminosity distance", luminosityDistance(r.ZL), r.LuminosityZL)
		check("angular distance", angularDistance(0, r.ZL), r.AngularZL)
		check("angular distance between", angularDistance(r.ZL, r.ZS), r.AngularZLZS)
		check("Einstein radius", EinsteinRadius(r.Sigma, r.ZL, r.ZS), r.ThetaE)
	}
}
