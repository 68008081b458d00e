package ssl

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// DINO's constants the reference configs do not set.
const (
	studentTemp    = 0.1 // DINO's and iBOT's student temperature
	centreMomentum = 0.9 // DINO's center_momentum, iBOT's for both centres
)

// dino is DINO, or iBOT when ibot is set: a student and an EMA teacher
// (initialised as a copy of the student), the teacher's outputs centred
// and sharpened into the student's targets.
type dino struct {
	cfg  *config.Config
	ibot bool
	head nn.DINOHead

	student, teacher         *vit.Params // backbones
	studentHead, teacherHead *vit.Params // heads; the student's holds iBOT's mask token
	studentBufs, teacherBufs nn.Buffers
	snet                     *nn.DINOStudent
	tnet                     *nn.DINOTeacher

	centre, patchCentre    []float32 // DINO's center and iBOT's center2, [1, K] and [1, Kp]
	teacherTemp, patchTemp []float64 // per epoch
	targets, patchTargets  []float32 // the latest step's
	noMasks                []bool    // iBOT before pred_start_epoch, or without masking
}

func newDINO(cfg *config.Config, student *vit.Params, rng *rand.Rand, chunk int) (*dino, error) {
	n := cfg.Network
	d := &dino{cfg: cfg, ibot: cfg.Experiment.Method == config.IBOT, student: student}
	d.head = nn.DINOHead{In: student.Preset.Dim, Hidden: n.HeadHiddenDim, Bottleneck: n.HeadBottleneckDim, Out: n.HeadOutputDim,
		Layers: n.HeadNLayers, BN: n.HeadUseBN, NormLastLayer: n.HeadNormLastLayer}
	if d.ibot && !n.SharedHead {
		d.head.PatchOut = n.PatchOutDim
	}
	d.studentHead = &vit.Params{}
	if err := d.head.AddParams(d.studentHead, rng); err != nil {
		return nil, err
	}
	// The teacher starts as the student's copy (the reference project's
	// teacher did not); iBOT's teacher never masks, so has no mask token.
	d.teacher, d.teacherHead = student.Clone(), d.studentHead.Clone()
	if d.ibot {
		if err := nn.AddMaskToken(d.studentHead, student.Preset.Dim); err != nil {
			return nil, err
		}
	}
	d.studentBufs, d.teacherBufs = d.head.Buffers(), d.head.Buffers()
	o, epochs := cfg.Optimizer, cfg.Train.Epochs
	d.teacherTemp = warmupConstant(o.WarmupTeacherTemp, o.TeacherTemp, o.WarmupTeacherTempEpochs, epochs)
	d.patchTemp = warmupConstant(o.WarmupTeacherPatchTemp, o.TeacherPatchTemp, o.WarmupTeacherTempEpochs, epochs)
	d.centre = make([]float32, d.head.Out)
	if d.ibot {
		d.patchCentre = make([]float32, d.patchOut())
	}
	a := cfg.Augmentation
	opt := nn.DINOOptions{Head: d.head, Batch: cfg.Train.BatchSize, GlobalSize: a.GlobalCropSize, LocalCrops: a.NumLocalCrops,
		LocalSize: a.LocalCropSize, IBOT: d.ibot, StudentTemp: studentTemp, Seed: cfg.Experiment.Seed, Chunk: chunk}
	var err error
	if d.snet, err = nn.NewDINOStudent(d.student, d.studentHead, d.studentBufs, opt); err != nil {
		return nil, err
	}
	if d.tnet, err = nn.NewDINOTeacher(d.teacher, d.teacherHead, d.teacherBufs, opt); err != nil {
		d.snet.Close()
		return nil, err
	}
	if d.ibot {
		g := a.GlobalCropSize / student.Preset.PatchSize
		d.noMasks = make([]bool, nn.Globals*cfg.Train.BatchSize*g*g)
	}
	return d, nil
}

// patchOut is the width of the patch head's outputs.
func (d *dino) patchOut() int {
	if d.head.PatchOut > 0 {
		return d.head.PatchOut
	}
	return d.head.Out
}

func (d *dino) vars() []optim.Var { return d.snet.Vars() }

// lastLayer is DINO's cancel_gradients_last_layer rule.
func (d *dino) lastLayer(name string) bool { return strings.Contains(name, "last_layer") }

func (d *dino) patchGrid() int {
	if !d.ibot || !d.cfg.Network.MaskConfig.Enabled {
		return 0
	}
	return d.cfg.Augmentation.GlobalCropSize / d.student.Preset.PatchSize
}

func (d *dino) reseed(step uint64) { d.snet.Reseed(step) }

func (d *dino) step(b *viewBatch, epoch int) (stepLoss, error) {
	cls, patch, err := d.tnet.Forward(b.globals)
	if err != nil {
		return stepLoss{}, err
	}
	// The loss uses the centre before this batch moves it, as DINO's.
	d.targets = centredSoftmax(d.targets, cls, d.centre, d.teacherTemp[epoch])
	updateCentre(d.centre, cls)
	t := nn.DINOTargets{CLS: d.targets, Lambda1: 1}
	batch := nn.DINOBatch{Globals: b.globals, Locals: b.locals}
	if d.ibot {
		d.patchTargets = centredSoftmax(d.patchTargets, patch, d.patchCentre, d.patchTemp[epoch])
		updateCentre(d.patchCentre, patch)
		t.Patch, t.Lambda1, t.Lambda2 = d.patchTargets, d.cfg.Optimizer.Lambda1, d.cfg.Optimizer.Lambda2
		batch.Masks = b.masks
		if b.masks == nil || epoch < d.cfg.Network.MaskConfig.StartEpoch {
			batch.Masks = d.noMasks
		}
	}
	l, err := d.snet.TrainStep(batch, t)
	if err != nil {
		return stepLoss{}, err
	}
	return stepLoss{total: l.CLS + l.Patch, patch: l.Patch}, nil
}

// centredSoftmax sets dst to softmax((x - centre)/temp) per row of x
// [rows, len(centre)], the teacher's targets, computed in float64.
func centredSoftmax(dst, x, centre []float32, temp float64) []float32 {
	k := len(centre)
	dst = append(dst[:0], x...)
	row := make([]float64, k)
	for r := 0; r < len(x)/k; r++ {
		mx := math.Inf(-1)
		for j, v := range x[r*k : (r+1)*k] {
			row[j] = (float64(v) - float64(centre[j])) / temp
			mx = max(mx, row[j])
		}
		var sum float64
		for j, v := range row {
			row[j] = math.Exp(v - mx)
			sum += row[j]
		}
		for j, v := range row {
			dst[r*k+j] = float32(v / sum)
		}
	}
	return dst
}

// updateCentre moves the centre towards the mean row of x:
// c = m·c + (1-m)·mean(x), m = centreMomentum.
func updateCentre(c, x []float32) {
	k := len(c)
	rows := len(x) / k
	mean := make([]float64, k)
	for r := range rows {
		for j, v := range x[r*k : (r+1)*k] {
			mean[j] += float64(v)
		}
	}
	for j := range c {
		c[j] = float32(centreMomentum*float64(c[j]) + (1-centreMomentum)*mean[j]/float64(rows))
	}
}

// update moves the teacher towards the student, parameter by parameter:
// t = m·t + (1-m)·s, in float32 as PyTorch's in-place EMA.
func (d *dino) update(momentum float64) {
	emaParams(d.teacher, d.student, momentum)
	emaParams(d.teacherHead, d.studentHead, momentum)
}

// emaParams applies the EMA to every parameter of teacher from the
// student's parameter of the same name.
func emaParams(teacher, student *vit.Params, momentum float64) {
	m, rest := float32(momentum), float32(1-momentum)
	for _, t := range teacher.List() {
		s := student.Get(t.Name).Data
		for i, v := range t.Data {
			t.Data[i] = v*m + rest*s[i]
		}
	}
}

func (d *dino) health() Health {
	return teacherHealth(d.targets, d.head.Out, d.centre, d.patchTargets, d.patchOut(), d.patchCentre)
}

func (d *dino) evalParams() *vit.Params    { return d.teacher }
func (d *dino) network() string            { return "teacher" }
func (d *dino) studentParams() *vit.Params { return d.student }

func (d *dino) notes() []string {
	n := d.cfg.Network
	out := []string{fmt.Sprintf("teacher: a copy of the student at step 0, then its EMA (momentum %g to 1); head %d-%d-%d-%d, %d layers, batch norm %t, last layer's norm fixed %t",
		d.cfg.Optimizer.MomentumTeacher, d.head.In, d.head.Hidden, d.head.Bottleneck, d.head.Out, d.head.Layers, d.head.BN, d.head.NormLastLayer)}
	if d.ibot {
		if n.SharedHead && n.PatchOutDim != n.HeadOutputDim {
			out = append(out, fmt.Sprintf("network.patch_out_dim %d is not used: with shared_head the patch tokens share the %d outputs of the class token's head", n.PatchOutDim, n.HeadOutputDim))
		}
		if n.SharedHeadTeacher != n.SharedHead {
			out = append(out, fmt.Sprintf("network.shared_head_teacher %t follows shared_head %t: the teacher is the student's EMA, so shares its layout", n.SharedHeadTeacher, n.SharedHead))
		}
	}
	return out
}

func (d *dino) state(extra map[string][]float32) {
	putParams(extra, extraStudent, d.student)
	putParams(extra, extraHead, d.studentHead)
	putParams(extra, extraTeacherHead, d.teacherHead)
	putBuffers(extra, extraBuffers, d.studentBufs)
	putBuffers(extra, extraTeacherBuffers, d.teacherBufs)
	extra["center"] = d.centre
	if d.ibot {
		extra["patch_center"] = d.patchCentre
	}
}

func (d *dino) restore(extra map[string][]float32) error {
	for _, s := range []struct {
		prefix string
		ps     *vit.Params
	}{{extraStudent, d.student}, {extraHead, d.studentHead}, {extraTeacherHead, d.teacherHead}} {
		if err := getParams(extra, s.prefix, s.ps); err != nil {
			return err
		}
	}
	if err := getBuffers(extra, extraBuffers, d.studentBufs); err != nil {
		return err
	}
	if err := getBuffers(extra, extraTeacherBuffers, d.teacherBufs); err != nil {
		return err
	}
	centres := map[string][]float32{"center": d.centre}
	if d.ibot {
		centres["patch_center"] = d.patchCentre
	}
	for name, c := range centres {
		v, ok := extra[name]
		if !ok || len(v) != len(c) {
			return fmt.Errorf("state has no %s of %d values", name, len(c))
		}
		copy(c, v)
	}
	return nil
}

func (d *dino) close() {
	d.snet.Close()
	d.tnet.Close()
}
