package sim

import "math"

// Distances in a flat Lambda-CDM cosmology with H0 = 70 km/s/Mpc and
// Omega_m = 0.3 (the concordance values LensPop, Collett 2015, uses), in Mpc.

const (
	speedOfLight = 299792.458 // km/s
	hubble0      = 70.0       // km/s/Mpc
	omegaMatter  = 0.3
	// arcsecPerRadian converts angles.
	arcsecPerRadian = 180 * 3600 / math.Pi
	// comovingSteps is the number of Simpson intervals per unit redshift:
	// distances to z = 4 are then exact to 1e-9.
	comovingSteps = 64
)

// comovingDistance is the line-of-sight comoving distance to redshift z:
// c/H0 times the integral of 1/E(z') over [0, z], E(z) = sqrt(Om (1+z)^3 + 1 - Om).
func comovingDistance(z float64) float64 {
	n := 2 * max(1, int(math.Ceil(z*comovingSteps/2)))
	h := z / float64(n)
	inv := func(z float64) float64 { return 1 / math.Sqrt(omegaMatter*math.Pow(1+z, 3)+1-omegaMatter) }
	sum := inv(0) + inv(z)
	for k := 1; k < n; k++ {
		w := 2.0
		if k%2 == 1 {
			w = 4
		}
		sum += w * inv(float64(k)*h)
	}
	return speedOfLight / hubble0 * sum * h / 3
}

// angularDistance is the angular diameter distance from redshift z1 to
// z2 > z1 (flat universe: the comoving difference over 1 + z2).
func angularDistance(z1, z2 float64) float64 {
	return (comovingDistance(z2) - comovingDistance(z1)) / (1 + z2)
}

// luminosityDistance is (1 + z) times the comoving distance.
func luminosityDistance(z float64) float64 { return (1 + z) * comovingDistance(z) }

// EinsteinRadius is the Einstein radius (arcsec) of a singular isothermal
// sphere of velocity dispersion sigma (km/s) at redshift zl for a source at
// zs > zl: theta_E = 4 pi (sigma/c)^2 D_ls / D_s.
func EinsteinRadius(sigma, zl, zs float64) float64 {
	v := sigma / speedOfLight
	return 4 * math.Pi * v * v * angularDistance(zl, zs) / angularDistance(0, zs) * arcsecPerRadian
}
