package ssl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/shared"
)

// ErrStopped is wrapped, with the context's error, in what Train returns
// when its context ends the run early: checkpoints/last then holds the
// state to resume from.
var ErrStopped = errors.New("stopped")

// ErrStepLimit is wrapped in what Train returns when Options.MaxSteps ended
// the run: checkpoints/last holds the state to resume from, as after a stop.
var ErrStepLimit = errors.New("step limit reached")

// stepper is one kind of training, which the loop drives: the classifier
// and the pretraining methods.
type stepper interface {
	// trainStep runs one optimiser step of epoch (0-based) on the images
	// idx; the loop's step counter still holds the steps done before it.
	trainStep(epoch int, idx []int) (stepResult, error)
	// endEpoch closes an epoch whose steps are all done: its records and
	// evaluations. checkpoint asks for checkpoints/last now, whatever the
	// cadence.
	endEpoch(ctx context.Context, e *epochRun) (checkpoint bool, err error)
	// saveCheckpoint writes checkpoints/last (and what goes with it)
	// after epochs epochs and the loop's steps; rng is the shuffling
	// generator's state the next steps start from.
	saveCheckpoint(epochs int, rng []byte) error
}

// stepResult is what one optimiser step reports.
type stepResult struct {
	loss    float64 // the batch's mean loss
	lr      float64 // the learning rate it stepped with
	correct int     // images the model called right; -1 for a method without labels
	seconds float64 // wall time of the networks and optimisers
}

// batching is how a run splits its images into steps.
type batching struct {
	images  int // images an epoch shuffles
	perStep int // images of a full batch
	iters   int // steps per epoch
}

// size is the number of images of step it of an epoch: the last one may be
// smaller (PyTorch's DataLoader without drop_last) unless iters leaves it
// out.
func (b batching) size(it int) int { return min(b.perStep, b.images-it*b.perStep) }

// loop is a training run's position, which its stepper reads.
type loop struct {
	batching
	total int // steps of the whole run
	step  int // steps done
}

// newLoop is the position of a fresh run of epochs epochs split by b.
func newLoop(b batching, epochs int) loop { return loop{batching: b, total: epochs * b.iters} }

// epochRun is the running account of one epoch.
type epochRun struct {
	epoch   int         // 0-based
	first   int         // the first step run in this session; above 0 when resumed mid-epoch
	totals  epochTotals // all its steps, those before a resume included
	seconds float64     // this session's steps' wall time
	images  int         // and images
}

// epochTotals accumulate an epoch's training loss and accuracy.
type epochTotals struct {
	lossSum         float64 // sum over images of the per-image loss (batch mean times batch size)
	images, correct int
	steps           int
}

func (t *epochTotals) add(loss float64, images, correct int) {
	t.lossSum += loss * float64(images)
	t.images += images
	t.correct += correct
	t.steps++
}

// runEpochs runs the epochs of the config on s (the rest of them when
// resuming, from the step the checkpoint was saved at): every epoch shuffles
// the images with the run's own generator, steps through its batches writing
// a record per step, then lets s close it, and saves checkpoints/last every
// experiment.log_freq epochs, on the last and when s asks. When ctx ends,
// runEpochs stops after the current step, saves checkpoints/last with the
// generator as the interrupted epoch started from it (its steps done are
// skipped on resuming) and returns an error wrapping ErrStopped; it stops
// the same way, wrapping ErrStepLimit, once Options.MaxSteps steps are done
// and steps remain.
func (f *runFolder) runEpochs(ctx context.Context, s stepper, l *loop) error {
	cfg := f.Config
	epochs := cfg.Train.Epochs
	pcg := rand.NewPCG(cfg.Experiment.Seed, streamShuffle)
	shuffle := rand.New(pcg)
	start, skip := 0, 0
	var partial epochTotals
	if rp := f.resume; rp != nil {
		st := rp.state
		if err := pcg.UnmarshalBinary(st.RNG); err != nil {
			return fmt.Errorf("ssl: %s: shuffling state: %w", f.run().Path(layout.LastDir), err)
		}
		start, l.step, skip, partial = st.Epoch, st.Step, st.Step-st.Epoch*l.iters, rp.partial
	}
	for epoch := start; epoch < epochs; epoch++ {
		rngAtStart, err := pcg.MarshalBinary()
		if err != nil {
			return fmt.Errorf("ssl: %w", err)
		}
		perm := shuffle.Perm(l.images)
		e := &epochRun{epoch: epoch}
		if epoch == start {
			e.first, e.totals = skip, partial
		}
		for it := e.first; it < l.iters; it++ {
			if ctx.Err() != nil {
				return f.stop(s, l, epoch, rngAtStart, ErrStopped, context.Cause(ctx))
			}
			if f.maxSteps > 0 && l.step >= f.maxSteps {
				return f.stop(s, l, epoch, rngAtStart, ErrStepLimit, fmt.Errorf("--max-steps %d", f.maxSteps))
			}
			idx := perm[it*l.perStep : it*l.perStep+l.size(it)]
			res, err := s.trainStep(epoch, idx)
			if err != nil {
				return err
			}
			l.step++
			if err := f.stepDone(e, l, len(idx), res); err != nil {
				return err
			}
		}
		checkpoint, err := s.endEpoch(ctx, e)
		if err != nil {
			return err
		}
		if checkpoint || (epoch+1)%cfg.Experiment.LogFreq == 0 || epoch+1 == epochs {
			rng, err := pcg.MarshalBinary() // the state the next epoch starts from
			if err != nil {
				return fmt.Errorf("ssl: %w", err)
			}
			if err := s.saveCheckpoint(epoch+1, rng); err != nil {
				return err
			}
		}
	}
	return nil
}

// stepDone adds a step of k images to the epoch's account and writes its
// record.
func (f *runFolder) stepDone(e *epochRun, l *loop, k int, res stepResult) error {
	e.totals.add(res.loss, k, max(res.correct, 0))
	e.seconds += res.seconds
	e.images += k
	rec := shared.Metric{Kind: shared.MetricStep, Epoch: e.epoch + 1, Step: l.step, TotalEpochs: f.Config.Train.Epochs,
		TotalSteps: l.total, Loss: new(res.loss), LR: new(res.lr), ImagesPerSec: new(float64(k) / max(res.seconds, 1e-9))}
	if res.correct >= 0 {
		rec.Accuracy = new(float64(res.correct) / float64(k))
	}
	return f.log.write(rec)
}

// stop saves checkpoints/last in the middle of epoch (0-based), whose
// shuffle started from rngAtStart, and returns the error runEpochs reports:
// kind (ErrStopped or ErrStepLimit) with why.
func (f *runFolder) stop(s stepper, l *loop, epoch int, rngAtStart []byte, kind, why error) error {
	if err := s.saveCheckpoint(epoch, rngAtStart); err != nil {
		return err
	}
	if err := f.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: epoch, Step: l.step,
		Message: fmt.Sprintf("stopped (%v) after step %d", why, l.step)}); err != nil {
		return err
	}
	return fmt.Errorf("ssl: %w at step %d of %d (epoch %d of %d); %s holds the state to resume from: %w",
		kind, l.step, l.total, epoch+1, f.Config.Train.Epochs, f.run().Path(layout.LastDir), why)
}
