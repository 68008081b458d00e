package ssl

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/shared"
)

// trainer is the state of one Train call: the classifier's stepper.
type trainer struct {
	*ClassifierRun
	loop
	m       Model
	device  deviceTrainer // m, when its optimiser steps on a device; else nil
	vars    []optim.Var
	opt     optim.Optimizer
	lrs     []float64 // per epoch
	wds     []float64 // per epoch
	history []eval.EpochMetrics
	best    *eval.EpochMetrics
	newBest bool      // best is the epoch just ended, due in checkpoints/best
	batch   []float32 // the current batch's images
	labels  []int     // and labels
	// epoch's images when datasets are weighted (see epochImages): the
	// loop's positions index it.
	epochList []int
	listEpoch int
}

// Train trains m, which must have been built from r.Params, for the
// config's epochs (the rest of them when resuming), then evaluates the last
// and the best-validation epochs on val and test, writes report.json and
// report.md and returns the report. Each epoch it shuffles the labelled
// images, runs the batches (flipped when finetune.augment), evaluates val
// every finetune.eval_every epochs and on the last, saves checkpoints/best
// when val AUC improves and checkpoints/last every experiment.log_freq
// epochs and on the last. When ctx ends, Train stops after the current
// step, saves checkpoints/last and returns an error wrapping ErrStopped.
// The model holds the last epoch's weights when Train returns.
func (r *ClassifierRun) Train(ctx context.Context, m Model) (*layout.Report, error) {
	cfg := r.Config
	t := &trainer{ClassifierRun: r, loop: newLoop(r.batches(), cfg.Train.Epochs), m: m, vars: m.Vars()}
	o := cfg.Optimizer
	// The seed stepped CosineAnnealingLR(T_max = epochs, eta_min = final_lr)
	// once per epoch: that is DINO's cosine schedule with one iteration per
	// epoch. Weight decay follows the same per-epoch schedule.
	t.lrs = optim.Cosine(o.InitLR, o.FinalLR, cfg.Train.Epochs, 1, o.WarmupEpochs, 0)
	t.wds = optim.Cosine(o.InitWD, o.FinalWD, cfg.Train.Epochs, 1, 0, 0)
	var err error
	if dt, ok := m.(deviceTrainer); ok {
		t.device = dt
		t.opt, err = dt.NewOptimizer(o.Name, o.DecayAll, o.ClipGrad)
	} else {
		t.opt, err = optim.New(o.Name, t.vars, o.DecayAll)
	}
	if err != nil {
		return nil, err
	}
	if err := syncParams(r.Params, t.vars); err != nil { // the model must fit the checkpoint's names
		return nil, err
	}
	if rp := r.resume; rp != nil {
		if err := t.opt.SetState(rp.state.OptimStep, rp.state.Optim); err != nil {
			return nil, fmt.Errorf("ssl: %s: %w", r.run().Path(layout.LastDir), err)
		}
		t.history = append(t.history, r.resumedEvals...)
		if len(t.history) > 0 {
			_, best, _ := eval.SelectBest(t.history)
			t.best = &best
		}
	}
	t.batch = make([]float32, cfg.Train.BatchSize*r.TrainSet.stride())
	t.labels = make([]int, cfg.Train.BatchSize)
	if err := r.runEpochs(ctx, t, &t.loop); err != nil {
		return nil, err
	}
	// The closing evaluation runs even when ctx ends now: every epoch is
	// saved, so a report is all the run still owes.
	return t.report(context.WithoutCancel(ctx))
}

// trainStep runs one optimiser step of epoch on the labelled images idx and
// reports the batch's loss and how many of its images the model called
// right (P(lens) >= 0.5 for lenses).
func (t *trainer) trainStep(epoch int, idx []int) (stepResult, error) {
	k := len(idx)
	images, labels := t.batch[:k*t.TrainSet.stride()], t.labels[:k]
	var chosen []int
	if t.weighted() {
		if t.epochList == nil || t.listEpoch != epoch {
			t.epochList, t.listEpoch = t.epochImages(epoch), epoch
		}
		chosen = make([]int, k)
		for j, p := range idx {
			chosen[j] = t.epochList[p]
		}
	}
	if err := t.fillBatch(images, labels, idx, chosen, epoch); err != nil {
		return stepResult{}, err
	}
	began := time.Now()
	t.m.Reseed(uint64(t.step))
	loss, prob, err := t.m.TrainStep(images, labels)
	if err != nil {
		return stepResult{}, fmt.Errorf("ssl: step %d: %w", t.step+1, err)
	}
	if len(prob) != k || math.IsNaN(loss) || math.IsInf(loss, 0) {
		return stepResult{}, fmt.Errorf("ssl: step %d: loss %v with %d probabilities for %d images", t.step+1, loss, len(prob), k)
	}
	if clip := t.Config.Optimizer.ClipGrad; clip > 0 && t.device == nil {
		optim.ClipGradNorm(t.vars, clip)
	}
	t.opt.Step(t.lrs[epoch], t.wds[epoch])
	correct := 0
	for j, p := range prob {
		if (p >= 0.5) == (labels[j] == 1) {
			correct++
		}
	}
	return stepResult{loss: loss, lr: t.lrs[epoch], correct: correct, seconds: time.Since(began).Seconds()}, nil
}

// fillBatch copies the images at the epoch's positions pos into batch
// and their labels into labels, flipping (and turning) each with the
// generator of its position when finetune.augment is set. images are the
// TrainSet images at pos when datasets are weighted, nil when position and
// image are the same.
func (r *ClassifierRun) fillBatch(batch []float32, labels []int, pos, images []int, epoch int) error {
	stride, s := r.TrainSet.stride(), r.TrainSet.Size
	a := r.Config.Augmentation
	for j, i := range pos {
		dst := batch[j*stride : (j+1)*stride]
		if images != nil {
			i = images[j]
		}
		copy(dst, r.TrainSet.Images(i, i+1))
		labels[j] = r.TrainSet.Labels[i]
		if !r.Config.Finetune.Augment {
			continue
		}
		rng := augment.SampleRNG(r.Config.Experiment.Seed, epoch, pos[j])
		im := data.Image{C: 3, H: s, W: s, Pix: dst}
		if rng.Float64() < a.HFlipP {
			augment.HFlip(im)
		}
		if rng.Float64() < a.VFlipP {
			augment.VFlip(im)
		}
		if a.Rot90 {
			if err := augment.Rot90(im, rng.IntN(4)); err != nil {
				return err
			}
		}
	}
	return nil
}

// endEpoch writes the epoch's record and, when due, evaluates val; it asks
// for a checkpoint when the validation AUC is the best so far.
func (t *trainer) endEpoch(ctx context.Context, e *epochRun) (bool, error) {
	cfg, epoch, tot := t.Config, e.epoch, e.totals
	rec := shared.Metric{Kind: shared.MetricEpoch, Epoch: epoch + 1, Step: t.step, TotalEpochs: cfg.Train.Epochs, TotalSteps: t.total,
		Loss: new(tot.lossSum / float64(tot.images)), Accuracy: new(float64(tot.correct) / float64(tot.images)),
		LR: new(t.lrs[epoch]), Seconds: new(e.seconds)}
	if e.seconds > 0 {
		rec.ImagesPerSec = new(float64(e.images) / e.seconds)
	}
	if err := t.log.write(rec); err != nil {
		return false, err
	}
	if (epoch+1)%cfg.Finetune.EvalEvery != 0 && epoch+1 != cfg.Train.Epochs {
		return false, nil
	}
	// The validation pass runs to the end even when ctx is done: an
	// epoch is never left half evaluated.
	rep, err := EvaluateSet(context.WithoutCancel(ctx), t.m, t.ValSet, eval.Options{Threshold: 0.5}, nil)
	if err != nil {
		return false, fmt.Errorf("ssl: epoch %d: val: %w", epoch+1, err)
	}
	em := eval.EpochMetrics{Epoch: epoch + 1, ValAccuracy: rep.Accuracy, ValAUC: rep.AUC}
	t.history = append(t.history, em)
	if err := t.log.write(shared.Metric{Kind: shared.MetricEval, Epoch: epoch + 1, Step: t.step, Split: "val",
		Accuracy: new(rep.Accuracy), AUC: new(rep.AUC)}); err != nil {
		return false, err
	}
	if t.best != nil && em.ValAUC <= t.best.ValAUC {
		return false, nil
	}
	t.best, t.newBest = &em, true
	return true, nil
}

// saveCheckpoint writes checkpoints/last and then, after an epoch with a
// new best validation AUC, checkpoints/best.
func (t *trainer) saveCheckpoint(epochs int, rng []byte) error {
	if err := t.saveLast(epochs, rng); err != nil {
		return err
	}
	if !t.newBest {
		return nil
	}
	t.newBest = false
	return t.saveBest(*t.best, t.step)
}

// saveBest writes r.Params, which must hold the weights of epoch em, to
// checkpoints/best. It comes after checkpoints/last of the same epoch, so a
// crash in between leaves the best epoch's weights there to copy from when
// resuming.
func (r *ClassifierRun) saveBest(em eval.EpochMetrics, step int) error {
	sc := r.sidecar(em.Epoch, step, map[string]float64{"val_accuracy": em.ValAccuracy, "val_auc": em.ValAUC})
	if err := saveModel(r.run().Path(layout.BestDir), r.Params, sc); err != nil {
		return err
	}
	return r.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: em.Epoch, Step: step, Checkpoint: layout.BestDir,
		Message: fmt.Sprintf("best validation AUC so far, %.4f: saved %s after epoch %d", em.ValAUC, layout.BestDir, em.Epoch)})
}

// sidecar describes a checkpoint written after epochs epochs and step steps.
func (r *ClassifierRun) sidecar(epochs, step int, metrics map[string]float64) ckpt.Sidecar {
	return ckpt.Sidecar{Config: r.cfgJSON, Epoch: epochs, Step: step, Metrics: metrics, Normalization: toCkpt(r.Norm)}
}

// saveLast writes checkpoints/last: the model, then the training state
// (epochs done, steps, optimiser, and the shuffling generator as the next
// steps start from it). It leaves r.Params current.
func (t *trainer) saveLast(epochs int, rng []byte) error {
	if t.device != nil {
		if err := t.device.PullParams(); err != nil {
			return err
		}
	}
	if err := syncParams(t.Params, t.vars); err != nil {
		return err
	}
	var metrics map[string]float64
	if n := len(t.history); n > 0 && t.history[n-1].Epoch == epochs {
		metrics = map[string]float64{"val_accuracy": t.history[n-1].ValAccuracy, "val_auc": t.history[n-1].ValAUC}
	}
	dir := t.run().Path(layout.LastDir)
	if err := saveModel(dir, t.Params, t.sidecar(epochs, t.step, metrics)); err != nil {
		return err
	}
	st := ckpt.State{Step: t.step, Epoch: epochs, RNG: rng, OptimStep: t.opt.Steps(), Optim: t.opt.State()}
	if err := ckpt.SaveState(dir, st); err != nil {
		return err
	}
	return t.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: epochs, Step: t.step, Checkpoint: layout.LastDir,
		Message: fmt.Sprintf("saved %s after epoch %d, step %d", layout.LastDir, epochs, t.step)})
}
