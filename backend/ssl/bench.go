package ssl

import (
	"math/rand/v2"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/memplan"
	"github.com/sslens/sslens/backend/nn/bench"
)

// PretrainBench is one pretraining step of a config, ready to time: the
// run's networks, optimisers, schedules and view batch, on synthetic images
// and without a data folder, run folder or metrics stream. `sslens bench
// --method` and BenchmarkPretrainStep time it.
type PretrainBench struct {
	t   *pretrainer
	idx []int // the batch: every synthetic image
}

// NewPretrainBench builds cfg's pretraining step (a dino, ibot or simsiam
// config: its backbone, train args.batch_size, crops, masks, heads and
// optimiser) on batch_size synthetic images of center_crop px, unit
// Gaussian noise in every band, normalised by mean 0 and std 1. Close it
// when done.
func NewPretrainBench(cfg *config.Config) (*PretrainBench, error) {
	p, err := cfg.Preset()
	if err != nil {
		return nil, err
	}
	if err := CheckPretrain(cfg, p); err != nil {
		return nil, err
	}
	n, size := cfg.Train.BatchSize, cfg.Augmentation.CenterCrop
	r := &PretrainRun{runFolder: runFolder{Config: cfg}, raw: make([]data.Image, n)}
	rng := rand.New(rand.NewPCG(cfg.Experiment.Seed, 1))
	for i := range r.raw {
		r.raw[i] = data.NewImage(3, size, size)
		for j := range r.raw[i].Pix {
			r.raw[i].Pix[j] = float32(rng.NormFloat64())
		}
	}
	r.Norm = augment.Normalization{Std: [3]float32{1, 1, 1}}
	if r.pipe, err = augment.NewPipeline(cfg.Augmentation, cfg.Network.MaskConfig, r.Norm); err != nil {
		return nil, err
	}
	plan, err := memplan.Pretrain(cfg, p)
	if err != nil {
		return nil, err
	}
	if r.m, err = newMethod(cfg, p, plan.Chunk); err != nil {
		return nil, err
	}
	t, err := r.newPretrainer()
	if err != nil {
		r.m.close()
		return nil, err
	}
	b := &PretrainBench{t: t, idx: make([]int, n)}
	for i := range b.idx {
		b.idx[i] = i
	}
	return b, nil
}

// Step runs one optimiser step of epoch 0 on the batch, as the run's first
// step every time (the same schedules): augmentation, teacher forward,
// student forward and backward, optimisers and EMA.
func (b *PretrainBench) Step() error {
	b.t.step = 0
	_, err := b.t.trainStep(0, b.idx)
	return err
}

// Augment runs the step's augmentation alone (the batch's views and
// masks), the part of Step a peer with ready-made inputs leaves out.
func (b *PretrainBench) Augment() error {
	return b.t.batch.fill(b.t.pipe, b.t.raw, b.idx, b.t.Config.Experiment.Seed, 0)
}

// Close releases the networks.
func (b *PretrainBench) Close() { b.t.m.close() }

// Peer describes the step to the PyTorch peer: the same backbone, batch,
// crops, heads, masks, temperatures and optimiser.
func (b *PretrainBench) Peer() bench.MethodSpec {
	cfg := b.t.Config
	p, _ := cfg.Preset() // checked by NewPretrainBench
	n, a, o := cfg.Network, cfg.Augmentation, cfg.Optimizer
	s := bench.MethodSpec{Method: string(cfg.Experiment.Method), Preset: p, Batch: cfg.Train.BatchSize,
		Optimizer: o.Name, LR: b.t.sched.LR[0], WD: b.t.sched.WD[0], Momentum: b.t.sched.Momentum[0]}
	switch d := b.t.m.(type) {
	case *dino:
		s.GlobalSize, s.LocalCrops, s.LocalSize = a.GlobalCropSize, a.NumLocalCrops, a.LocalCropSize
		s.DINO = &d.head
		s.TeacherTemp, s.StudentTemp = d.teacherTemp[0], studentTemp
		if d.ibot {
			s.PatchTemp, s.Lambda1, s.Lambda2 = d.patchTemp[0], o.Lambda1, o.Lambda2
			s.MaskRatio, s.MaskAspect = n.MaskConfig.Ratio, n.MaskConfig.Aspect
		}
	case *simsiam:
		s.GlobalSize = a.CropSize
		s.SimSiam = &d.head
	}
	return s
}
