package sim

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/data"
)

//go:embed presets.yaml
var presetsYAML []byte

// Presets is the content of a presets file (see presets.yaml): named
// surveys, named dataset sizes, and the image population.
type Presets struct {
	Surveys    map[string]Survey `yaml:"surveys"`
	Counts     map[string]Counts `yaml:"counts"`
	Population Population        `yaml:"population"`
}

// Survey describes an imaging survey: its camera, PSF and per-band depth.
type Survey struct {
	Name          string  `yaml:"-"`
	PixelScale    float64 `yaml:"pixel_scale"` // arcsec per pixel
	ReadNoise     float64 `yaml:"read_noise"`  // electrons per exposure
	PSF           PSFSpec `yaml:"psf"`
	SeeingScatter float64 `yaml:"seeing_scatter"` // log-normal sigma of each image's FWHM
	DepthScatter  float64 `yaml:"depth_scatter"`  // normal sigma, mag, of each image's depth per band
	Bands         Bands   `yaml:"bands"`
}

// PSFSpec is the PSF profile: "gaussian", or "moffat" with index Beta.
type PSFSpec struct {
	Profile string  `yaml:"profile"`
	Beta    float64 `yaml:"beta"`
}

// Bands holds one Band per filter.
type Bands struct {
	G Band `yaml:"g"`
	R Band `yaml:"r"`
	I Band `yaml:"i"`
}

// Array returns the bands in image channel order g, r, i.
func (b Bands) Array() [3]Band { return [3]Band{b.G, b.R, b.I} }

// Band is one filter's observing setup.
type Band struct {
	ZeroPoint  float64 `yaml:"zero_point"` // magnitude of 1 count per second: the pixel unit
	Exposure   float64 `yaml:"exposure"`   // seconds per exposure
	Exposures  int     `yaml:"exposures"`  // dithered exposures in the coadd (also sets its noise correlation)
	Sky        float64 `yaml:"sky"`        // sky brightness, mag per arcsec^2
	Seeing     float64 `yaml:"seeing"`     // median PSF FWHM, arcsec
	Gain       float64 `yaml:"gain"`       // electrons per count
	Saturation float64 `yaml:"saturation"` // magnitude of a point source whose peak pixel saturates
}

// SplitCounts is the number of images of each class in one split.
type SplitCounts struct {
	Lenses    int `yaml:"lenses"`
	NonLenses int `yaml:"nonlenses"`
}

// Counts is the number of images per split and class. Images are numbered
// split by split (train, val, test), lenses before non-lenses in each.
type Counts struct {
	Train SplitCounts `yaml:"train"`
	Val   SplitCounts `yaml:"val"`
	Test  SplitCounts `yaml:"test"`
}

func (c Counts) splits() [3]SplitCounts { return [3]SplitCounts{c.Train, c.Val, c.Test} }

// Total is the number of images.
func (c Counts) Total() int {
	n := 0
	for _, s := range c.splits() {
		n += s.Lenses + s.NonLenses
	}
	return n
}

// Locate returns the split name and class of image index (0 <= index < Total).
func (c Counts) Locate(index int) (split data.SplitName, label data.Label, err error) {
	if index < 0 {
		return "", 0, fmt.Errorf("sim: image index %d is negative", index)
	}
	k := index
	for i, s := range c.splits() {
		if k < s.Lenses {
			return data.SplitNames[i], data.Lens, nil
		}
		k -= s.Lenses
		if k < s.NonLenses {
			return data.SplitNames[i], data.NonLens, nil
		}
		k -= s.NonLenses
	}
	return "", 0, fmt.Errorf("sim: image index %d out of range (dataset has %d images)", index, c.Total())
}

// Galaxy is a population of elliptical Sersic galaxies.
type Galaxy struct {
	MagI Dist `yaml:"mag_i"` // total i magnitude
	GR   Dist `yaml:"g_r"`   // g - r colour
	RI   Dist `yaml:"r_i"`   // r - i colour
	Reff Dist `yaml:"r_eff"` // circularised half-light radius, arcsec
	N    Dist `yaml:"n"`     // Sersic index
	Q    Dist `yaml:"q"`     // axis ratio
}

// Population is what the images hold; see presets.yaml for each field.
type Population struct {
	LensGalaxy   RedGalaxy `yaml:"lens_galaxy"`
	CentreOffset Dist      `yaml:"centre_offset"`
	Mass         Mass      `yaml:"mass"`
	Source       Source    `yaml:"source"`
	NonLens      NonLens   `yaml:"nonlens"`
	Field        Field     `yaml:"field"`
}

// RedGalaxy is the population of massive early-type galaxies at the centre
// of lenses and of most non-lenses: a redshift and a velocity dispersion,
// from which magnitude, colours and size follow.
type RedGalaxy struct {
	Redshift           Dist         `yaml:"redshift"`
	VelocityDispersion Dist         `yaml:"velocity_dispersion"` // km/s
	MagIPivot          float64      `yaml:"mag_i_pivot"`         // i at z = 0.5, sigma = 250 km/s
	FaberJackson       float64      `yaml:"faber_jackson"`       // L ~ sigma^FaberJackson
	KESlope            float64      `yaml:"ke_slope"`            // K+evolution correction, mag per unit z
	MagScatter         float64      `yaml:"mag_scatter"`         // Gaussian sd, mag
	ColourTrack        [][3]float64 `yaml:"colour_track"`        // [z, g-r, r-i], z increasing
	GRScatter          float64      `yaml:"g_r_scatter"`
	RIScatter          float64      `yaml:"r_i_scatter"`
	ReffKpc            Dist         `yaml:"r_eff_kpc"` // half-light radius, kpc
	N                  Dist         `yaml:"n"`
	Q                  Dist         `yaml:"q"`
}

// Mass is the lens mass population: SIE plus external shear.
type Mass struct {
	ThetaERange  [2]float64 `yaml:"theta_e_range"` // accepted Einstein radii, arcsec
	Q            Dist       `yaml:"q"`             // mass axis ratio
	AngleScatter Dist       `yaml:"angle_scatter"` // degrees from the light's major axis
	Shear        Dist       `yaml:"shear"`         // each shear component
	Core         float64    `yaml:"core"`          // core radius, arcsec
}

// Source is the lensed source population.
type Source struct {
	Redshift         Dist    `yaml:"redshift"`
	Galaxy           Galaxy  `yaml:"galaxy"`
	Position         float64 `yaml:"position"` // max source offset, in units of theta_E
	MinMagnification float64 `yaml:"min_magnification"`
	MinSNR           float64 `yaml:"min_snr"` // best-band LensPop arc S/N a lens must reach
	Clumps           Dist    `yaml:"clumps"`
	ClumpFlux        Dist    `yaml:"clump_flux"`
	ClumpSigma       Dist    `yaml:"clump_sigma"`
	ClumpSpread      float64 `yaml:"clump_spread"`
	ClumpGR          Dist    `yaml:"clump_g_r"`
	ClumpRI          Dist    `yaml:"clump_r_i"`
}

// NonLens is the population of non-lens central objects.
type NonLens struct {
	Kinds              map[string]float64 `yaml:"kinds"` // kind name -> relative weight
	Disk               Galaxy             `yaml:"disk"`
	BulgeFraction      Dist               `yaml:"bulge_fraction"`
	EdgeOnQ            Dist               `yaml:"edge_on_q"`
	PairSeparation     Dist               `yaml:"pair_separation"`
	PairFluxRatio      Dist               `yaml:"pair_flux_ratio"`
	PairBlue           float64            `yaml:"pair_blue"`
	Tidal              float64            `yaml:"tidal"`
	TidalFlux          Dist               `yaml:"tidal_flux"`
	TidalRadius        Dist               `yaml:"tidal_radius"` // in units of the pair separation
	TidalWidth         Dist               `yaml:"tidal_width"`  // arcsec
	TidalPower         Dist               `yaml:"tidal_power"`
	Ring               Ring               `yaml:"ring"`
	SpiralArms         Dist               `yaml:"spiral_arms"`
	SpiralPitch        Dist               `yaml:"spiral_pitch"`
	SpiralContrast     Dist               `yaml:"spiral_contrast"`
	SpiralDiskFraction Dist               `yaml:"spiral_disk_fraction"`
	SpiralLopsided     Dist               `yaml:"spiral_lopsided"`
	SpiralKnots        Dist               `yaml:"spiral_knots"`
	KnotFlux           Dist               `yaml:"knot_flux"` // of the disk's i flux
	KnotGR             Dist               `yaml:"knot_g_r"`
	KnotRI             Dist               `yaml:"knot_r_i"`
}

// Ring is the population of star-forming rings around non-lens ellipticals.
type Ring struct {
	MagI     Dist `yaml:"mag_i"`
	GR       Dist `yaml:"g_r"`
	RI       Dist `yaml:"r_i"`
	Radius   Dist `yaml:"radius"`
	Width    Dist `yaml:"width"`
	Q        Dist `yaml:"q"`
	Knots    Dist `yaml:"knots"`
	Offset   Dist `yaml:"offset"` // ring centre from the galaxy's, arcsec
	Power    Dist `yaml:"power"`
	Lopsided Dist `yaml:"lopsided"`
}

// Field is the population of contaminants: neighbours, stars, artefacts.
type Field struct {
	Neighbours      float64 `yaml:"neighbours"`
	NeighbourMagI   Dist    `yaml:"neighbour_mag_i"`
	SizeLuminosity  float64 `yaml:"size_luminosity"` // r_eff ~ L^SizeLuminosity about i = 22
	RedFraction     float64 `yaml:"red_fraction"`
	Red             Galaxy  `yaml:"red"` // mag_i unused
	Blue            Galaxy  `yaml:"blue"`
	Satellites      float64 `yaml:"satellites"`
	SatelliteRadius Dist    `yaml:"satellite_radius"` // arcsec from the central
	SatelliteDMag   Dist    `yaml:"satellite_dmag"`   // i magnitudes below the central
	SatelliteBlue   float64 `yaml:"satellite_blue"`
	Star            float64 `yaml:"star"`
	StarMagI        Dist    `yaml:"star_mag_i"`
	StarGR          Dist    `yaml:"star_g_r"`
	StarRI          Dist    `yaml:"star_r_i"`
	BrightStar      float64 `yaml:"bright_star"`
	BrightStarMagI  Dist    `yaml:"bright_star_mag_i"`
	BadColumn       float64 `yaml:"bad_column"`
}

// Non-lens kinds.
const (
	KindLens       = "lens"
	KindElliptical = "elliptical"
	KindDisk       = "disk"
	KindEdgeOn     = "edge_on"
	KindPair       = "pair"
	KindRing       = "ring"
	KindSpiral     = "spiral"
)

var nonLensKinds = []string{KindElliptical, KindDisk, KindEdgeOn, KindPair, KindRing, KindSpiral}

// DefaultPresets returns the presets compiled into the binary.
func DefaultPresets() (*Presets, error) { return ParsePresets(presetsYAML) }

// DefaultConfig is the simulation the compiled-in presets name by survey
// and counts preset (see Presets.Config).
func DefaultConfig(survey, counts string) (Config, error) {
	p, err := DefaultPresets()
	if err != nil {
		return Config{}, err
	}
	return p.Config(survey, counts)
}

// ParsePresets decodes and validates a presets file. Unknown keys are
// errors, so a misspelt parameter cannot be silently ignored.
func ParsePresets(b []byte) (*Presets, error) {
	var p Presets
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("sim: presets: %w", err)
	}
	for name, s := range p.Surveys {
		s.Name = name
		p.Surveys[name] = s
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("sim: presets: %w", err)
	}
	return &p, nil
}

// Names returns the sorted keys of a preset table.
func Names[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Config is everything one dataset is made from.
type Config struct {
	Survey     Survey
	Population Population
	Counts     Counts
	Size       int    // stamp side, pixels
	Seed       uint64 // the same seed gives the same files
	Workers    int    // images rendered in parallel; < 1 means runtime.NumCPU()
}

// Config returns the configuration for the named survey and count presets,
// with 64 px stamps and seed 1.
func (p *Presets) Config(survey, counts string) (Config, error) {
	s, ok := p.Surveys[survey]
	if !ok {
		return Config{}, fmt.Errorf("sim: unknown survey preset %q (have %s)", survey, strings.Join(Names(p.Surveys), ", "))
	}
	c, ok := p.Counts[counts]
	if !ok {
		return Config{}, fmt.Errorf("sim: unknown counts preset %q (have %s)", counts, strings.Join(Names(p.Counts), ", "))
	}
	return Config{Survey: s, Population: p.Population, Counts: c, Size: 64, Seed: 1}, nil
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	if c.Size < 16 || c.Size > 1024 {
		return fmt.Errorf("sim: stamp size %d px out of range [16, 1024]", c.Size)
	}
	if c.Counts.Total() == 0 {
		return errors.New("sim: counts: no images")
	}
	return nil
}

// validator collects the first error, naming the field by its YAML path.
type validator struct{ err error }

func (v *validator) failf(path, format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
}

// num checks lo <= x <= hi.
func (v *validator) num(path string, x, lo, hi float64) {
	if !(x >= lo && x <= hi) {
		v.failf(path, "want a value in [%g, %g], got %g", lo, hi, x)
	}
}

// dist checks that d is set and every value it can draw lies in [lo, hi].
func (v *validator) dist(path string, d Dist, lo, hi float64) {
	if d.kind == distUnset {
		v.failf(path, "missing")
		return
	}
	if a, b := d.Range(); !(a >= lo && b <= hi) {
		v.failf(path, "%v can draw values in [%g, %g], want them within [%g, %g]", d, a, b, lo, hi)
	}
}

func (v *validator) galaxy(path string, g Galaxy, withMag bool) {
	if withMag {
		v.dist(path+".mag_i", g.MagI, 5, 35)
	}
	v.dist(path+".g_r", g.GR, -3, 5)
	v.dist(path+".r_i", g.RI, -3, 5)
	v.dist(path+".r_eff", g.Reff, 0.01, 20)
	v.dist(path+".n", g.N, 0.3, 8)
	v.dist(path+".q", g.Q, 0.05, 1)
}

func (v *validator) redGalaxy(path string, g RedGalaxy) {
	v.dist(path+".redshift", g.Redshift, 0.01, 5)
	v.dist(path+".velocity_dispersion", g.VelocityDispersion, 30, 1000)
	v.num(path+".mag_i_pivot", g.MagIPivot, 5, 35)
	v.num(path+".faber_jackson", g.FaberJackson, 0, 10)
	v.num(path+".ke_slope", g.KESlope, -5, 5)
	v.num(path+".mag_scatter", g.MagScatter, 0, 2)
	if len(g.ColourTrack) == 0 {
		v.failf(path+".colour_track", "missing")
	}
	for k, p := range g.ColourTrack {
		if k > 0 && !(p[0] > g.ColourTrack[k-1][0]) {
			v.failf(fmt.Sprintf("%s.colour_track[%d]", path, k), "redshift %g not above the previous %g", p[0], g.ColourTrack[k-1][0])
		}
	}
	if lo, hi := g.Redshift.Range(); len(g.ColourTrack) > 0 && !(lo >= g.ColourTrack[0][0] && hi <= g.ColourTrack[len(g.ColourTrack)-1][0]) {
		v.failf(path+".colour_track", "covers z %g-%g, not the redshifts %v draws", g.ColourTrack[0][0], g.ColourTrack[len(g.ColourTrack)-1][0], g.Redshift)
	}
	v.num(path+".g_r_scatter", g.GRScatter, 0, 1)
	v.num(path+".r_i_scatter", g.RIScatter, 0, 1)
	v.dist(path+".r_eff_kpc", g.ReffKpc, 0.1, 100)
	v.dist(path+".n", g.N, 0.3, 8)
	v.dist(path+".q", g.Q, 0.05, 1)
}

func (p *Presets) validate() error {
	var v validator
	if len(p.Surveys) == 0 {
		v.failf("surveys", "none defined")
	}
	for _, name := range Names(p.Surveys) {
		s, path := p.Surveys[name], "surveys."+name
		v.num(path+".pixel_scale", s.PixelScale, 0.01, 5)
		v.num(path+".read_noise", s.ReadNoise, 0, 1000)
		v.num(path+".seeing_scatter", s.SeeingScatter, 0, 1)
		v.num(path+".depth_scatter", s.DepthScatter, 0, 1)
		switch s.PSF.Profile {
		case "gaussian":
		case "moffat":
			v.num(path+".psf.beta", s.PSF.Beta, 1.5, 20)
		default:
			v.failf(path+".psf.profile", "want gaussian or moffat, got %q", s.PSF.Profile)
		}
		for c, b := range s.Bands.Array() {
			bp := path + ".bands." + data.Bands[c]
			v.num(bp+".zero_point", b.ZeroPoint, 10, 40)
			v.num(bp+".exposure", b.Exposure, 1e-3, 1e6)
			v.num(bp+".exposures", float64(b.Exposures), 1, 1e5)
			v.num(bp+".sky", b.Sky, 10, 30)
			v.num(bp+".seeing", b.Seeing, 0.01, 10)
			v.num(bp+".gain", b.Gain, 1e-3, 1e4)
			v.num(bp+".saturation", b.Saturation, 0, 40)
		}
	}
	if len(p.Counts) == 0 {
		v.failf("counts", "none defined")
	}
	for _, name := range Names(p.Counts) {
		c := p.Counts[name]
		for i, s := range c.splits() {
			sp := "counts." + name + "." + string(data.SplitNames[i])
			v.num(sp+".lenses", float64(s.Lenses), 0, 1e8)
			v.num(sp+".nonlenses", float64(s.NonLenses), 0, 1e8)
		}
		if c.Total() == 0 {
			v.failf("counts."+name, "no images")
		}
	}
	pop, pp := p.Population, "population"
	v.redGalaxy(pp+".lens_galaxy", pop.LensGalaxy)
	v.dist(pp+".centre_offset", pop.CentreOffset, -5, 5)
	te := pop.Mass.ThetaERange
	v.num(pp+".mass.theta_e_range[0]", te[0], 0.05, 10)
	v.num(pp+".mass.theta_e_range[1]", te[1], te[0], 10)
	v.dist(pp+".mass.q", pop.Mass.Q, 0.1, 1)
	v.dist(pp+".mass.angle_scatter", pop.Mass.AngleScatter, -90, 90)
	v.dist(pp+".mass.shear", pop.Mass.Shear, -0.5, 0.5)
	v.num(pp+".mass.core", pop.Mass.Core, 0, 1)
	src, sp := pop.Source, pp+".source"
	v.dist(sp+".redshift", src.Redshift, 0.05, 10)
	v.galaxy(sp+".galaxy", src.Galaxy, true)
	v.num(sp+".position", src.Position, 0, 5)
	v.num(sp+".min_magnification", src.MinMagnification, 0, 100)
	v.num(sp+".min_snr", src.MinSNR, 0, 1e4)
	v.dist(sp+".clumps", src.Clumps, 0, 50)
	v.dist(sp+".clump_flux", src.ClumpFlux, 0, 0.2)
	v.dist(sp+".clump_sigma", src.ClumpSigma, 0.005, 2)
	v.num(sp+".clump_spread", src.ClumpSpread, 0, 10)
	v.dist(sp+".clump_g_r", src.ClumpGR, -3, 3)
	v.dist(sp+".clump_r_i", src.ClumpRI, -3, 3)
	nl, np := pop.NonLens, pp+".nonlens"
	if len(nl.Kinds) == 0 {
		v.failf(np+".kinds", "none defined")
	}
	total := 0.0
	for _, k := range Names(nl.Kinds) {
		if !slices.Contains(nonLensKinds, k) {
			v.failf(np+".kinds", "unknown kind %q (want %s)", k, strings.Join(nonLensKinds, ", "))
		}
		v.num(np+".kinds."+k, nl.Kinds[k], 0, 1e6)
		total += nl.Kinds[k]
	}
	if len(nl.Kinds) > 0 && total <= 0 {
		v.failf(np+".kinds", "weights sum to %g, want > 0", total)
	}
	v.galaxy(np+".disk", nl.Disk, false)
	v.dist(np+".bulge_fraction", nl.BulgeFraction, 0, 1)
	v.dist(np+".edge_on_q", nl.EdgeOnQ, 0.02, 1)
	v.dist(np+".pair_separation", nl.PairSeparation, 0, 10)
	v.dist(np+".pair_flux_ratio", nl.PairFluxRatio, 0.001, 10)
	v.num(np+".pair_blue", nl.PairBlue, 0, 1)
	v.num(np+".tidal", nl.Tidal, 0, 1)
	v.dist(np+".tidal_flux", nl.TidalFlux, 0, 1)
	v.dist(np+".tidal_radius", nl.TidalRadius, 0.1, 10)
	v.dist(np+".tidal_width", nl.TidalWidth, 0.01, 5)
	v.dist(np+".tidal_power", nl.TidalPower, 0, 50)
	rp := np + ".ring"
	v.dist(rp+".mag_i", nl.Ring.MagI, 5, 35)
	v.dist(rp+".g_r", nl.Ring.GR, -3, 5)
	v.dist(rp+".r_i", nl.Ring.RI, -3, 5)
	v.dist(rp+".radius", nl.Ring.Radius, 0.05, 10)
	v.dist(rp+".width", nl.Ring.Width, 0.01, 5)
	v.dist(rp+".q", nl.Ring.Q, 0.05, 1)
	v.dist(rp+".knots", nl.Ring.Knots, 0, 50)
	v.dist(rp+".offset", nl.Ring.Offset, 0, 5)
	v.dist(rp+".power", nl.Ring.Power, 0, 50)
	v.dist(rp+".lopsided", nl.Ring.Lopsided, 0, 1)
	v.dist(np+".spiral_arms", nl.SpiralArms, 1, 8)
	v.dist(np+".spiral_pitch", nl.SpiralPitch, 1, 80)
	v.dist(np+".spiral_contrast", nl.SpiralContrast, 0, 1)
	v.dist(np+".spiral_disk_fraction", nl.SpiralDiskFraction, 0, 1)
	v.dist(np+".spiral_lopsided", nl.SpiralLopsided, 0, 1)
	v.dist(np+".spiral_knots", nl.SpiralKnots, 0, 50)
	v.dist(np+".knot_flux", nl.KnotFlux, 0, 0.2)
	v.dist(np+".knot_g_r", nl.KnotGR, -3, 5)
	v.dist(np+".knot_r_i", nl.KnotRI, -3, 5)
	f, fp := pop.Field, pp+".field"
	v.num(fp+".neighbours", f.Neighbours, 0, 50)
	v.dist(fp+".neighbour_mag_i", f.NeighbourMagI, 5, 35)
	v.num(fp+".size_luminosity", f.SizeLuminosity, 0, 1)
	v.num(fp+".red_fraction", f.RedFraction, 0, 1)
	v.galaxy(fp+".red", f.Red, false)
	v.galaxy(fp+".blue", f.Blue, false)
	v.num(fp+".satellites", f.Satellites, 0, 20)
	v.dist(fp+".satellite_radius", f.SatelliteRadius, 0, 30)
	v.dist(fp+".satellite_dmag", f.SatelliteDMag, 0, 15)
	v.num(fp+".satellite_blue", f.SatelliteBlue, 0, 1)
	v.num(fp+".star", f.Star, 0, 1)
	v.dist(fp+".star_mag_i", f.StarMagI, 5, 35)
	v.dist(fp+".star_g_r", f.StarGR, -3, 5)
	v.dist(fp+".star_r_i", f.StarRI, -3, 5)
	v.num(fp+".bright_star", f.BrightStar, 0, 1)
	v.dist(fp+".bright_star_mag_i", f.BrightStarMagI, 5, 35)
	v.num(fp+".bad_column", f.BadColumn, 0, 1)
	return v.err
}
