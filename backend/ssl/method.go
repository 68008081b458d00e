package ssl

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// pretrainMethod is one method's networks and per-step rules, which the
// pretraining loop drives.
type pretrainMethod interface {
	// vars are the student's trained parameters.
	vars() []optim.Var
	// lastLayer reports the parameters freeze_last_layer holds.
	lastLayer(name string) bool
	// patchGrid is the mask grid side of a global view, 0 without masks.
	patchGrid() int
	// reseed numbers the next step's dropout draws.
	reseed(step uint64)
	// step trains on one batch: forward and backward, leaving the
	// gradients in vars.
	step(b *viewBatch, epoch int) (stepLoss, error)
	// update runs after the optimiser step: the teacher's EMA.
	update(momentum float64)
	// health measures the latest step's outputs.
	health() Health
	// evalParams is the backbone the kNN monitor embeds with and the
	// checkpoint's model file holds; network says whose it is.
	evalParams() *vit.Params
	network() string
	// studentParams is the backbone the optimiser trains when it is not
	// evalParams (DINO's and iBOT's student), else nil. Checkpoints keep
	// it as layout.StudentFile: the reference project fine-tunes it.
	studentParams() *vit.Params
	// notes describe the networks for the run's log.
	notes() []string
	// state adds what a resumed run needs beyond evalParams to extra;
	// restore reads it back.
	state(extra map[string][]float32)
	restore(extra map[string][]float32) error
	close()
}

// newMethod builds the networks of cfg's method on a fresh backbone of
// preset p, run chunk images per backbone pass: weights from
// experiment.seed's init stream, heads from its head stream.
func newMethod(cfg *config.Config, p vit.Preset, chunk int) (pretrainMethod, error) {
	seed := cfg.Experiment.Seed
	student, err := vit.New(p, 0, rand.New(rand.NewPCG(seed, streamInit)))
	if err != nil {
		return nil, fmt.Errorf("ssl: %w", err)
	}
	headRNG := rand.New(rand.NewPCG(seed, streamHead))
	if cfg.Experiment.Method == config.SimSiam {
		return newSimSiam(cfg, student, headRNG, chunk)
	}
	return newDINO(cfg, student, headRNG, chunk)
}

// Extra-state prefixes of a pretraining checkpoint.
const (
	extraStudent        = "student/"         // the student's backbone, when the model file holds the teacher's
	extraHead           = "head/"            // the student's head (and iBOT's mask token)
	extraTeacherHead    = "teacher_head/"    // DINO, iBOT
	extraBuffers        = "buffers/"         // the student's BatchNorm running statistics
	extraTeacherBuffers = "teacher_buffers/" // DINO, iBOT
)

// putParams adds the tensors of ps to extra under prefix.
func putParams(extra map[string][]float32, prefix string, ps *vit.Params) {
	for _, p := range ps.List() {
		extra[prefix+p.Name] = p.Data
	}
}

// getParams copies extra's tensors under prefix into ps; every parameter
// must be there with its length.
func getParams(extra map[string][]float32, prefix string, ps *vit.Params) error {
	for _, p := range ps.List() {
		v, ok := extra[prefix+p.Name]
		if !ok || len(v) != len(p.Data) {
			return fmt.Errorf("state has no %s%s of %d values", prefix, p.Name, len(p.Data))
		}
		copy(p.Data, v)
	}
	return nil
}

// putBuffers adds the buffers to extra under prefix.
func putBuffers(extra map[string][]float32, prefix string, b nn.Buffers) {
	for name, v := range b {
		extra[prefix+name] = v
	}
}

// getBuffers copies extra's buffers under prefix into b.
func getBuffers(extra map[string][]float32, prefix string, b nn.Buffers) error {
	names := make([]string, 0, len(b))
	for name := range b {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, ok := extra[prefix+name]
		if !ok || len(v) != len(b[name]) {
			return fmt.Errorf("state has no %s%s of %d values", prefix, name, len(b[name]))
		}
		copy(b[name], v)
	}
	return nil
}
