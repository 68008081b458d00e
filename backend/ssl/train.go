package ssl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/optim"
)

// ErrStopped is wrapped, with the context's error, in what Train returns
// when its context ends the run early: checkpoints/last then holds the
// state to resume from.
var ErrStopped = errors.New("stopped")

// trainer is the state of one Train call.
type trainer struct {
	*ClassifierRun
	m       Model
	vars    []optim.Var
	opt     optim.Optimizer
	lrs     []float64 // per epoch
	wds     []float64 // per epoch
	iters   int       // steps per epoch
	total   int       // steps of the whole run
	step    int       // steps done
	history []eval.EpochMetrics
	best    *eval.EpochMetrics
	batch   []float32 // the current batch's images
	labels  []int     // and labels
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
func (r *ClassifierRun) Train(ctx context.Context, m Model) (*Report, error) {
	cfg := r.Config
	t := &trainer{ClassifierRun: r, m: m, vars: m.Vars(), iters: r.itersPerEpoch()}
	epochs := cfg.Train.Epochs
	t.total = epochs * t.iters
	o := cfg.Optimizer
	// The seed stepped CosineAnnealingLR(T_max = epochs, eta_min = final_lr)
	// once per epoch: that is DINO's cosine schedule with one iteration per
	// epoch. Weight decay follows the same per-epoch schedule.
	t.lrs = optim.Cosine(o.InitLR, o.FinalLR, epochs, 1, o.WarmupEpochs, 0)
	t.wds = optim.Cosine(o.InitWD, o.FinalWD, epochs, 1, 0, 0)
	var err error
	if t.opt, err = optim.New(o.Name, t.vars, o.DecayAll); err != nil {
		return nil, err
	}
	if err := syncParams(r.Params, t.vars); err != nil { // the model must fit the checkpoint's names
		return nil, err
	}

	pcg := rand.NewPCG(cfg.Experiment.Seed, streamShuffle)
	shuffle := rand.New(pcg)
	start, skip := 0, 0
	var partial epochTotals
	if rp := r.resume; rp != nil {
		st := rp.state
		if err := t.opt.SetState(st.OptimStep, st.Optim); err != nil {
			return nil, fmt.Errorf("ssl: %s: %w", filepath.Join(r.Dir, LastDir), err)
		}
		if err := pcg.UnmarshalBinary(st.RNG); err != nil {
			return nil, fmt.Errorf("ssl: %s: shuffling state: %w", filepath.Join(r.Dir, LastDir), err)
		}
		start, t.step, skip, partial = st.Epoch, st.Step, st.Step-st.Epoch*t.iters, rp.partial
		t.history = append(t.history, rp.history...)
		if len(t.history) > 0 {
			_, best, _ := eval.SelectBest(t.history)
			t.best = &best
		}
	}

	n := r.TrainSet.Len()
	t.batch = make([]float32, cfg.Train.BatchSize*r.TrainSet.stride())
	t.labels = make([]int, cfg.Train.BatchSize)
	for epoch := start; epoch < epochs; epoch++ {
		rngAtStart, err := pcg.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("ssl: %w", err)
		}
		perm := shuffle.Perm(n)
		tot, first := epochTotals{}, 0
		if epoch == start {
			tot, first = partial, skip
		}
		var seconds float64
		sessionImages := 0
		for it := first; it < t.iters; it++ {
			if ctx.Err() != nil {
				return nil, t.stop(ctx, epoch, rngAtStart)
			}
			idx := perm[it*cfg.Train.BatchSize : it*cfg.Train.BatchSize+r.batchLen(it)]
			loss, correct, dt, err := t.trainStep(epoch, idx)
			if err != nil {
				return nil, err
			}
			k := len(idx)
			seconds += dt
			sessionImages += k
			tot.add(loss, k, correct)
			if err := r.log.write(Record{Kind: KindStep, Epoch: epoch + 1, Step: t.step, TotalEpochs: epochs, TotalSteps: t.total,
				Loss: num(loss), LR: num(t.lrs[epoch]), Accuracy: num(float64(correct) / float64(k)),
				ImagesPerSec: num(float64(k) / max(dt, 1e-9))}); err != nil {
				return nil, err
			}
		}
		best, err := t.endEpoch(ctx, epoch, tot, seconds, sessionImages)
		if err != nil {
			return nil, err
		}
		if best || (epoch+1)%cfg.Experiment.LogFreq == 0 || epoch+1 == epochs {
			rng, err := pcg.MarshalBinary() // the state the next epoch starts from
			if err != nil {
				return nil, fmt.Errorf("ssl: %w", err)
			}
			if err := t.saveLast(epoch+1, rng); err != nil {
				return nil, err
			}
		}
		if best {
			if err := r.saveBest(*t.best, t.step); err != nil {
				return nil, err
			}
		}
	}
	// The closing evaluation runs even when ctx ends now: every epoch is
	// saved, so a report is all the run still owes.
	return t.report(context.WithoutCancel(ctx))
}

// trainStep runs one optimiser step of epoch on the labelled images idx and
// returns the batch's loss, how many of its images the model called right
// (P(lens) >= 0.5 for lenses), and the seconds the model and optimiser took.
func (t *trainer) trainStep(epoch int, idx []int) (loss float64, correct int, seconds float64, err error) {
	k := len(idx)
	images, labels := t.batch[:k*t.TrainSet.stride()], t.labels[:k]
	if err := t.fillBatch(images, labels, idx, epoch); err != nil {
		return 0, 0, 0, err
	}
	began := time.Now()
	t.m.Reseed(uint64(t.step))
	loss, prob, err := t.m.TrainStep(images, labels)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("ssl: step %d: %w", t.step+1, err)
	}
	if len(prob) != k || math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, 0, 0, fmt.Errorf("ssl: step %d: loss %v with %d probabilities for %d images", t.step+1, loss, len(prob), k)
	}
	if clip := t.Config.Optimizer.ClipGrad; clip > 0 {
		optim.ClipGradNorm(t.vars, clip)
	}
	t.opt.Step(t.lrs[epoch], t.wds[epoch])
	t.step++
	for j, p := range prob {
		if (p >= 0.5) == (labels[j] == 1) {
			correct++
		}
	}
	return loss, correct, time.Since(began).Seconds(), nil
}

// fillBatch copies the images idx into batch and their labels into
// labels, flipping (and turning) each with its own generator when
// finetune.augment is set.
func (r *ClassifierRun) fillBatch(batch []float32, labels []int, idx []int, epoch int) error {
	stride, s := r.TrainSet.stride(), r.TrainSet.Size
	a := r.Config.Augmentation
	for j, i := range idx {
		dst := batch[j*stride : (j+1)*stride]
		copy(dst, r.TrainSet.Images(i, i+1))
		labels[j] = r.TrainSet.Labels[i]
		if !r.Config.Finetune.Augment {
			continue
		}
		rng := augment.SampleRNG(r.Config.Experiment.Seed, epoch, i)
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

// endEpoch writes the epoch's record and, when due, evaluates val; it
// reports whether the validation AUC is the best so far.
func (t *trainer) endEpoch(ctx context.Context, epoch int, tot epochTotals, seconds float64, images int) (bool, error) {
	cfg := t.Config
	rec := Record{Kind: KindEpoch, Epoch: epoch + 1, Step: t.step, TotalEpochs: cfg.Train.Epochs, TotalSteps: t.total,
		Loss: num(tot.lossSum / float64(tot.images)), Accuracy: num(float64(tot.correct) / float64(tot.images)),
		LR: num(t.lrs[epoch]), Seconds: num(seconds)}
	if seconds > 0 {
		rec.ImagesPerSec = num(float64(images) / seconds)
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
	if err := t.log.write(Record{Kind: KindEval, Epoch: epoch + 1, Step: t.step, Split: "val",
		Accuracy: num(rep.Accuracy), AUC: num(rep.AUC)}); err != nil {
		return false, err
	}
	if t.best != nil && em.ValAUC <= t.best.ValAUC {
		return false, nil
	}
	t.best = &em
	return true, nil
}

// saveBest writes r.Params, which must hold the weights of epoch em, to
// checkpoints/best. It comes after checkpoints/last of the same epoch, so a
// crash in between leaves the best epoch's weights there to copy from when
// resuming.
func (r *ClassifierRun) saveBest(em eval.EpochMetrics, step int) error {
	sc := r.sidecar(em.Epoch, step, map[string]float64{"val_accuracy": em.ValAccuracy, "val_auc": em.ValAUC})
	if err := saveModel(filepath.Join(r.Dir, BestDir), r.Params, sc); err != nil {
		return err
	}
	return r.log.write(Record{Kind: KindLog, Epoch: em.Epoch, Step: step, Checkpoint: BestDir,
		Message: fmt.Sprintf("best validation AUC so far, %.4f: saved %s after epoch %d", em.ValAUC, BestDir, em.Epoch)})
}

// sidecar describes a checkpoint written after epochs epochs and step steps.
func (r *ClassifierRun) sidecar(epochs, step int, metrics map[string]float64) ckpt.Sidecar {
	return ckpt.Sidecar{Config: r.cfgJSON, Epoch: epochs, Step: step, Metrics: metrics, Normalization: toCkpt(r.Norm)}
}

// saveLast writes checkpoints/last: the model, then the training state
// (epochs done, steps, optimiser, and the shuffling generator as the next
// epoch will start from it). It leaves r.Params current.
func (t *trainer) saveLast(epochs int, rng []byte) error {
	if err := syncParams(t.Params, t.vars); err != nil {
		return err
	}
	var metrics map[string]float64
	if n := len(t.history); n > 0 && t.history[n-1].Epoch == epochs {
		metrics = map[string]float64{"val_accuracy": t.history[n-1].ValAccuracy, "val_auc": t.history[n-1].ValAUC}
	}
	dir := filepath.Join(t.Dir, LastDir)
	if err := saveModel(dir, t.Params, t.sidecar(epochs, t.step, metrics)); err != nil {
		return err
	}
	st := ckpt.State{Step: t.step, Epoch: epochs, RNG: rng, OptimStep: t.opt.Steps(), Optim: t.opt.State()}
	if err := ckpt.SaveState(dir, st); err != nil {
		return err
	}
	return t.log.write(Record{Kind: KindLog, Epoch: epochs, Step: t.step, Checkpoint: LastDir,
		Message: fmt.Sprintf("saved %s after epoch %d, step %d", LastDir, epochs, t.step)})
}

// stop saves checkpoints/last in the middle of epoch (0-based), whose
// shuffle started from rngAtStart, and returns the error Train reports.
func (t *trainer) stop(ctx context.Context, epoch int, rngAtStart []byte) error {
	if err := t.saveLast(epoch, rngAtStart); err != nil {
		return err
	}
	if err := t.log.write(Record{Kind: KindLog, Epoch: epoch, Step: t.step,
		Message: fmt.Sprintf("stopped (%v) after step %d", context.Cause(ctx), t.step)}); err != nil {
		return err
	}
	return fmt.Errorf("ssl: %w at step %d of %d (epoch %d of %d); %s holds the state to resume from: %w",
		ErrStopped, t.step, t.total, epoch+1, t.Config.Train.Epochs, filepath.Join(t.Dir, LastDir), context.Cause(ctx))
}
