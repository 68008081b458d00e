package ssl

import (
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn/optim"
)

// lrBatchBase is the batch size DINO quotes learning rates for: with
// optimizer.scale_lr_by_batch, init_lr is multiplied by batch_size/256.
const lrBatchBase = 256

// Schedules are a pretraining run's hyperparameters over time, precomputed
// as DINO does: per step (iteration) for the learning rate, the weight
// decay and the teacher's EMA momentum, per epoch for the teacher
// temperatures.
type Schedules struct {
	// LR: linear warm-up from 0 to init_lr (the reference project's peak;
	// init_lr·batch_size/256 with scale_lr_by_batch, DINO's) over
	// scheduler_warmup_epochs, then cosine to final_lr (optim.Cosine).
	LR []float64
	// WD: cosine from init_wd to final_wd, no warm-up.
	WD []float64
	// Momentum: the teacher's EMA momentum, cosine from momentum_teacher to 1.
	Momentum []float64
	// TeacherTemp and PatchTemp: linear from warmup_teacher_temp (and
	// warmup_teacher_patch_temp) to teacher_temp (teacher_patch_temp) over
	// warmup_teacher_temp_epochs (numpy.linspace, end included), then
	// constant, per epoch.
	TeacherTemp, PatchTemp []float64
}

// NewSchedules returns the schedules of cfg for iters steps per epoch.
func NewSchedules(cfg *config.Config, iters int) Schedules {
	o, epochs := cfg.Optimizer, cfg.Train.Epochs
	base := o.InitLR
	if o.ScaleLRByBatch {
		base *= float64(cfg.Train.BatchSize) / lrBatchBase
	}
	return Schedules{
		LR:          optim.Cosine(base, o.FinalLR, epochs, iters, o.WarmupEpochs, 0),
		WD:          optim.Cosine(o.InitWD, o.FinalWD, epochs, iters, 0, 0),
		Momentum:    optim.Cosine(o.MomentumTeacher, 1, epochs, iters, 0, 0),
		TeacherTemp: warmupConstant(o.WarmupTeacherTemp, o.TeacherTemp, o.WarmupTeacherTempEpochs, epochs),
		PatchTemp:   warmupConstant(o.WarmupTeacherPatchTemp, o.TeacherPatchTemp, o.WarmupTeacherTempEpochs, epochs),
	}
}

// warmupConstant is DINO's teacher temperature schedule: numpy.linspace(
// start, end, warmup) then end for the remaining epochs.
func warmupConstant(start, end float64, warmup, epochs int) []float64 {
	out := make([]float64, 0, epochs)
	for e := 0; e < min(warmup, epochs); e++ {
		v := start
		if warmup > 1 {
			v = start + (end-start)*float64(e)/float64(warmup-1)
		}
		out = append(out, v)
	}
	for len(out) < epochs {
		out = append(out, end)
	}
	return out
}
