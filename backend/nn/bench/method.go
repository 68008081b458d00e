package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"time"

	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/vit"
)

// MethodSpec is one self-supervised pretraining step as the PyTorch peer
// builds it; it reaches the script as JSON with the Go field names.
type MethodSpec struct {
	Method string     // dino, ibot or simsiam
	Preset vit.Preset // the student's backbone, its drop path and attention dropout
	Batch  int        // images per step
	// GlobalSize is the side in px of the 2 global views (SimSiam's 2
	// views); LocalCrops local views of LocalSize px follow (DINO, iBOT).
	GlobalSize, LocalCrops, LocalSize int

	DINO        *nn.DINOHead // DINO's and iBOT's head, student and teacher
	TeacherTemp float64      // DINO, iBOT: the step's teacher temperature
	StudentTemp float64
	// iBOT: the masked-patch loss's teacher temperature and the weights of
	// the class-token and patch losses; block masks of MaskRatio of the
	// global views' patches, aspect ratios in MaskAspect.
	PatchTemp, Lambda1, Lambda2 float64
	MaskRatio                   float64
	MaskAspect                  [2]float64

	SimSiam *nn.SimSiamHead // SimSiam's projector and predictor

	Optimizer string  // AdamW, Adam or SGD (momentum 0.9)
	LR, WD    float64 // the step's learning rate and weight decay
	Momentum  float64 // DINO, iBOT: the teacher's EMA momentum
}

// RunMethod runs the peer's pretraining step s for steps timed steps on
// threads threads and returns its result line and images/s.
func (t *Torch) RunMethod(s MethodSpec, steps, threads int) (line string, rate float64, err error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", 0, fmt.Errorf("bench: torch peer: %w", err)
	}
	return t.run(threads, "--method", string(b), strconv.Itoa(steps), strconv.Itoa(threads))
}

// ReportMethod writes the line of our step s, measured as r, of which
// its augmentation took augment (the peer's inputs are ready-made), and,
// when peer is not nil, runs the peer's step for steps timed steps and
// writes its line and the ratios of images/s, with and without our
// augmentation.
func ReportMethod(w io.Writer, s MethodSpec, r Result, augment time.Duration, peer *Torch, steps int) error {
	crops := fmt.Sprintf("2x%d px", s.GlobalSize)
	if s.LocalCrops > 0 {
		crops += fmt.Sprintf(" + %dx%d px", s.LocalCrops, s.LocalSize)
	}
	p := s.Preset
	fmt.Fprintf(w, "%s %s (D %d, depth %d, %d heads), batch %d, crops %s: %.0f ms/step (augmentation %.0f ms)  %.1f img/s  peak RSS %.0f MB\n",
		s.Method, p.Name, p.Dim, p.Depth, p.Heads, s.Batch, crops, float64(r.Step)/1e6, float64(augment)/1e6, r.ImagesPerSec(s.Batch), float64(r.PeakRSS)/(1<<20))
	if peer == nil {
		return nil
	}
	line, rate, err := peer.RunMethod(s, steps, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	without := Result{Step: r.Step - augment}
	fmt.Fprintf(w, "  %s\n  ours / torch: %.2fx images/s (%.2fx without our augmentation)\n", line, r.ImagesPerSec(s.Batch)/rate, without.ImagesPerSec(s.Batch)/rate)
	return nil
}
