package sim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gopkg.in/yaml.v3"
)

type distKind int

const (
	distUnset distKind = iota
	distConst
	distUniform
	distLogUniform
	distNormal
	distCounts
)

// Dist is a one-dimensional distribution read from YAML: a number (a
// constant), [lo, hi] (uniform), {loguniform: [lo, hi]},
// {normal: [mean, sd], clip: [lo, hi]} (normal truncated to [lo, hi]), or
// {counts: [lo, hi], slope: s}, density proportional to 10^(s x) on
// [lo, hi]: magnitudes drawn from number counts N(<m) ~ 10^(s m).
type Dist struct {
	kind   distKind
	a, b   float64 // constant a; uniform and counts bounds a, b; normal mean a, sd b
	lo, hi float64 // normal truncation
	slope  float64 // counts: dex per unit x
}

// Uniform returns the uniform distribution on [lo, hi].
func Uniform(lo, hi float64) Dist { return Dist{kind: distUniform, a: lo, b: hi} }

// Const returns the distribution that always draws x.
func Const(x float64) Dist { return Dist{kind: distConst, a: x} }

// Range returns the smallest and largest values d can draw.
func (d Dist) Range() (lo, hi float64) {
	switch d.kind {
	case distConst:
		return d.a, d.a
	case distUniform, distLogUniform, distCounts:
		return d.a, d.b
	case distNormal:
		return d.lo, d.hi
	}
	return math.NaN(), math.NaN()
}

// CDF returns the probability that a draw is at most x.
func (d Dist) CDF(x float64) float64 {
	lo, hi := d.Range()
	switch {
	case x < lo:
		return 0
	case x >= hi:
		return 1
	}
	switch d.kind {
	case distUniform:
		return (x - d.a) / (d.b - d.a)
	case distLogUniform:
		return math.Log(x/d.a) / math.Log(d.b/d.a)
	case distCounts:
		return math.Expm1(d.slope*math.Ln10*(x-d.a)) / math.Expm1(d.slope*math.Ln10*(d.b-d.a))
	case distNormal:
		return (d.normalCDF(x) - d.normalCDF(d.lo)) / (d.normalCDF(d.hi) - d.normalCDF(d.lo))
	}
	return 1 // a constant at or below x
}

// normalCDF is the untruncated normal's CDF at x (mean d.a, sd d.b).
func (d Dist) normalCDF(x float64) float64 {
	return 0.5 * math.Erfc((d.a-x)/(d.b*math.Sqrt2))
}

// SampleBelow draws from d conditioned on a draw being at most x, which
// must have CDF(x) > 0.
func (d Dist) SampleBelow(r *rand.Rand, x float64) float64 {
	p := d.CDF(x) * r.Float64()
	switch d.kind {
	case distUniform:
		return d.a + p*(d.b-d.a)
	case distLogUniform:
		return d.a * math.Exp(p*math.Log(d.b/d.a))
	case distCounts:
		return d.a + math.Log1p(p*math.Expm1(d.slope*math.Ln10*(d.b-d.a)))/(d.slope*math.Ln10)
	case distNormal:
		q := d.normalCDF(d.lo) + p*(d.normalCDF(d.hi)-d.normalCDF(d.lo))
		return min(max(d.a+d.b*math.Sqrt2*math.Erfinv(2*q-1), d.lo), d.hi)
	}
	return d.a
}

// Sample draws one value.
func (d Dist) Sample(r *rand.Rand) float64 {
	switch d.kind {
	case distConst:
		return d.a
	case distUniform:
		return d.a + (d.b-d.a)*r.Float64()
	case distLogUniform:
		return d.a * math.Exp(r.Float64()*math.Log(d.b/d.a))
	case distCounts:
		return d.SampleBelow(r, d.b)
	case distNormal:
		// Rejection keeps the normal's shape inside the clip; the clamp
		// after many misses only guards against a clip far in the tail.
		for range 64 {
			if x := d.a + d.b*r.NormFloat64(); x >= d.lo && x <= d.hi {
				return x
			}
		}
		return min(max(d.a, d.lo), d.hi)
	}
	return 0
}

func (d Dist) String() string {
	switch d.kind {
	case distConst:
		return fmt.Sprintf("%g", d.a)
	case distUniform:
		return fmt.Sprintf("[%g, %g]", d.a, d.b)
	case distLogUniform:
		return fmt.Sprintf("{loguniform: [%g, %g]}", d.a, d.b)
	case distNormal:
		return fmt.Sprintf("{normal: [%g, %g], clip: [%g, %g]}", d.a, d.b, d.lo, d.hi)
	case distCounts:
		return fmt.Sprintf("{counts: [%g, %g], slope: %g}", d.a, d.b, d.slope)
	}
	return "unset"
}

// UnmarshalYAML reads the forms listed on Dist.
func (d *Dist) UnmarshalYAML(n *yaml.Node) error {
	pair := func(n *yaml.Node, what string) (a, b float64, err error) {
		var v []float64
		if err := n.Decode(&v); err != nil || len(v) != 2 {
			return 0, 0, fmt.Errorf("line %d: %s wants two numbers [a, b]", n.Line, what)
		}
		return v[0], v[1], nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		var x float64
		if err := n.Decode(&x); err != nil {
			return fmt.Errorf("line %d: want a number, [lo, hi] or a mapping, got %q", n.Line, n.Value)
		}
		*d = Const(x)
		return nil
	case yaml.SequenceNode:
		a, b, err := pair(n, "a uniform distribution")
		if err != nil {
			return err
		}
		if !(a <= b) {
			return fmt.Errorf("line %d: uniform [%g, %g] has lo > hi", n.Line, a, b)
		}
		*d = Uniform(a, b)
		return nil
	case yaml.MappingNode:
		var m map[string]yaml.Node
		if err := n.Decode(&m); err != nil {
			return err
		}
		clip, hasClip := m["clip"]
		delete(m, "clip")
		slope, hasSlope := m["slope"]
		delete(m, "slope")
		if len(m) != 1 {
			return fmt.Errorf("line %d: want exactly one of uniform, loguniform, normal, counts", n.Line)
		}
		if _, counts := m["counts"]; hasSlope != counts {
			return fmt.Errorf("line %d: slope goes with counts, and counts needs a slope", n.Line)
		}
		for key, val := range m { // the only entry
			a, b, err := pair(&val, key)
			if err != nil {
				return err
			}
			switch {
			case key == "uniform" && a <= b && !hasClip:
				*d = Uniform(a, b)
			case key == "loguniform" && 0 < a && a <= b && !hasClip:
				*d = Dist{kind: distLogUniform, a: a, b: b}
			case key == "counts" && a < b && !hasClip:
				*d = Dist{kind: distCounts, a: a, b: b}
				if err := slope.Decode(&d.slope); err != nil || !(d.slope > 0) {
					return fmt.Errorf("line %d: counts slope wants a positive number, got %q", slope.Line, slope.Value)
				}
			case key == "normal" && b >= 0:
				*d = Dist{kind: distNormal, a: a, b: b, lo: math.Inf(-1), hi: math.Inf(1)}
				if hasClip {
					if d.lo, d.hi, err = pair(&clip, "clip"); err != nil {
						return err
					}
					if !(d.lo <= a && a <= d.hi) {
						return fmt.Errorf("line %d: clip [%g, %g] excludes the mean %g", n.Line, d.lo, d.hi, a)
					}
				}
			default:
				return fmt.Errorf("line %d: bad distribution %s: [%g, %g] (clip only goes with normal; loguniform needs 0 < lo <= hi; counts lo < hi)", n.Line, key, a, b)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: want a number, [lo, hi] or a mapping", n.Line)
}
