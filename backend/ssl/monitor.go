package ssl

import (
	"fmt"
	"math"
)

// Collapse thresholds. A teacher whose distributions are all close to
// uniform (mean entropy above uniformCollapse·log K) has collapsed to the
// uniform solution; one whose batch-mean distribution has less entropy
// than log 2 puts the whole batch on (about) one prototype: the two failure
// modes DINO's centring and sharpening balance. SimSiam's projections have
// collapsed when their per-dimension standard deviation after L2
// normalisation falls below stdCollapse/√d (√d·std is about 1 for
// well-spread outputs, 0 for a constant one).
const (
	uniformCollapse = 0.98
	stdCollapse     = 0.1
)

// Health is a method's collapse monitor for one epoch, measured on the
// epoch's last batch. Unused fields are zero.
type Health struct {
	// DINO and iBOT: the teacher's target distributions (after centring
	// and sharpening), in nats, and the centre.
	TeacherEntropy  float64 `json:"teacher_entropy,omitempty"`   // mean over the rows of each row's entropy
	BatchEntropy    float64 `json:"batch_entropy,omitempty"`     // entropy of the mean distribution
	MaxEntropy      float64 `json:"max_entropy,omitempty"`       // log K, the uniform distribution's
	CentreNorm      float64 `json:"centre_norm,omitempty"`       // L2 norm of the centre
	PatchEntropy    float64 `json:"patch_entropy,omitempty"`     // iBOT: mean entropy of the patch targets
	PatchCentreNorm float64 `json:"patch_centre_norm,omitempty"` // iBOT

	// SimSiam: mean over dimensions of the standard deviation of the
	// L2-normalised projections z, and that times √d.
	OutputStd       float64 `json:"output_std,omitempty"`
	OutputStdScaled float64 `json:"output_std_scaled,omitempty"`

	// Collapse says what collapsed, empty when nothing did.
	Collapse string `json:"collapse,omitempty"`
}

// entropies returns the mean row entropy of the distributions probs
// [rows, k] and the entropy of their mean, in nats.
func entropies(probs []float32, k int) (mean, ofMean float64) {
	rows := len(probs) / k
	if rows == 0 {
		return 0, 0
	}
	avg := make([]float64, k)
	for r := range rows {
		for j, p := range probs[r*k : (r+1)*k] {
			if p > 0 {
				mean -= float64(p) * math.Log(float64(p))
			}
			avg[j] += float64(p) / float64(rows)
		}
	}
	for _, p := range avg {
		if p > 0 {
			ofMean -= p * math.Log(p)
		}
	}
	return mean / float64(rows), ofMean
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// teacherHealth measures DINO's or iBOT's teacher from its class-token
// targets [rows, k], the centre, and for iBOT the patch targets [.., kp]
// and centre (nil for DINO).
func teacherHealth(targets []float32, k int, centre []float32, patch []float32, kp int, patchCentre []float32) Health {
	h := Health{MaxEntropy: math.Log(float64(k)), CentreNorm: norm(centre)}
	h.TeacherEntropy, h.BatchEntropy = entropies(targets, k)
	if patch != nil {
		h.PatchEntropy, _ = entropies(patch, kp)
		h.PatchCentreNorm = norm(patchCentre)
	}
	switch {
	case h.TeacherEntropy > uniformCollapse*h.MaxEntropy:
		h.Collapse = fmt.Sprintf("teacher outputs are near uniform: entropy %.3f of at most %.3f nats", h.TeacherEntropy, h.MaxEntropy)
	case h.BatchEntropy < math.Ln2:
		h.Collapse = fmt.Sprintf("teacher puts the whole batch on one prototype: entropy of the batch mean %.3f nats, below log 2", h.BatchEntropy)
	}
	return h
}

// projectionHealth measures SimSiam's projections z [rows, k].
func projectionHealth(z []float32, k int) Health {
	rows := len(z) / k
	unit := make([]float64, len(z))
	for r := range rows {
		n := max(norm(z[r*k:(r+1)*k]), 1e-12)
		for j, v := range z[r*k : (r+1)*k] {
			unit[r*k+j] = float64(v) / n
		}
	}
	var std float64
	for j := range k {
		var m, v float64
		for r := range rows {
			m += unit[r*k+j]
		}
		m /= float64(rows)
		for r := range rows {
			d := unit[r*k+j] - m
			v += d * d
		}
		std += math.Sqrt(v / float64(max(rows-1, 1)))
	}
	std /= float64(k)
	h := Health{OutputStd: std, OutputStdScaled: std * math.Sqrt(float64(k))}
	if h.OutputStdScaled < stdCollapse {
		h.Collapse = fmt.Sprintf("projections have collapsed: std of the normalised outputs %.4g, %.3g x 1/sqrt(%d)", std, h.OutputStdScaled, k)
	}
	return h
}

// String renders the monitor for the log.
func (h Health) String() string {
	if h.MaxEntropy > 0 {
		s := fmt.Sprintf("teacher entropy %.3f (batch mean %.3f, uniform %.3f) nats, centre norm %.4g", h.TeacherEntropy, h.BatchEntropy, h.MaxEntropy, h.CentreNorm)
		if h.PatchCentreNorm > 0 || h.PatchEntropy > 0 {
			s += fmt.Sprintf("; patch entropy %.3f, patch centre norm %.4g", h.PatchEntropy, h.PatchCentreNorm)
		}
		return s
	}
	return fmt.Sprintf("projection std %.4g (x sqrt(dim) %.3f)", h.OutputStd, h.OutputStdScaled)
}
