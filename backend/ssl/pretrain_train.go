package ssl

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/shared"
)

// historyFile is in checkpoints/last: the epochs up to it.
const historyFile = "history.json"

// knnMonitorBatch is the batch of the feature machine the kNN monitor runs.
const knnMonitorBatch = 64

// pretrainer is the state of one Train call: the pretraining stepper.
type pretrainer struct {
	*PretrainRun
	loop
	sched        Schedules
	vars         []optim.Var // the student's trained parameters, all of them
	main, last   []optim.Var // those the main optimiser and the last-layer one update
	opt, lastOpt optim.Optimizer
	history      []PretrainEpoch
	batch        *viewBatch
	knn          *KNNReading // the latest kNN monitor
	pixelKNN     *KNNReading // the monitor with the normalised pixels as features, read once
	gain         KNNGain     // knn over pixelKNN
	patchLossSum float64     // iBOT: the masked-patch losses of the epoch's steps in this session
}

// Train pretrains for the config's epochs (the rest of them when
// resuming), then writes pretrain_report.json and .md and returns the
// report. When ctx ends, Train stops after the current step, saves
// checkpoints/last and returns an error wrapping ErrStopped.
func (r *PretrainRun) Train(ctx context.Context) (*PretrainReport, error) {
	t, err := r.newPretrainer()
	if err != nil {
		return nil, err
	}
	if rp := r.resume; rp != nil {
		if err := t.restoreOptimisers(rp.state); err != nil {
			return nil, fmt.Errorf("ssl: %s: %w", r.run().Path(layout.LastDir), err)
		}
		t.history = append(t.history, r.resumedEpochs...)
	}
	if err := r.runEpochs(ctx, t, &t.loop); err != nil {
		return nil, err
	}
	return t.report()
}

// newPretrainer prepares a fresh stepper: the schedules, the optimisers
// (the last layer's apart) and the view batch.
func (r *PretrainRun) newPretrainer() (*pretrainer, error) {
	cfg := r.Config
	t := &pretrainer{PretrainRun: r, loop: newLoop(r.batches(), cfg.Train.Epochs), vars: r.m.vars()}
	t.sched = NewSchedules(cfg, t.iters)
	for _, v := range t.vars {
		if r.m.lastLayer(v.Name) {
			t.last = append(t.last, v)
		} else {
			t.main = append(t.main, v)
		}
	}
	o := cfg.Optimizer
	var err error
	if t.opt, err = optim.New(o.Name, t.main, o.DecayAll); err != nil {
		return nil, err
	}
	if len(t.last) > 0 {
		if t.lastOpt, err = optim.New(o.Name, t.last, o.DecayAll); err != nil {
			return nil, err
		}
	}
	t.batch = newViewBatch(cfg, r.m.patchGrid())
	return t, nil
}

// stepLoss is one step's loss and, for iBOT, its masked-patch part.
type stepLoss struct{ total, patch float64 }

// trainStep runs one optimiser step of epoch on the images idx: the
// networks, the optimisers on the per-step schedules, then the teacher.
func (t *pretrainer) trainStep(epoch int, idx []int) (stepResult, error) {
	if err := t.batch.fill(t.pipe, t.raw, idx, t.Config.Experiment.Seed, epoch); err != nil {
		return stepResult{}, err
	}
	began := time.Now()
	t.m.reseed(uint64(t.step))
	loss, err := t.m.step(t.batch, epoch)
	if err != nil {
		return stepResult{}, fmt.Errorf("ssl: step %d: %w", t.step+1, err)
	}
	if math.IsNaN(loss.total) || math.IsInf(loss.total, 0) {
		return stepResult{}, fmt.Errorf("ssl: step %d: loss %v", t.step+1, loss.total)
	}
	frozen := epoch < t.Config.Train.FreezeLastLayer
	updated := t.vars
	if frozen {
		updated = t.main
	}
	if clip := t.Config.Optimizer.ClipGrad; clip > 0 {
		optim.ClipGradNorm(updated, clip)
	}
	lr, wd := t.sched.LR[t.step], t.sched.WD[t.step]
	t.opt.Step(lr, wd)
	if t.lastOpt != nil && !frozen {
		t.lastOpt.Step(lr, wd)
	}
	t.m.update(t.sched.Momentum[t.step])
	t.patchLossSum += loss.patch
	return stepResult{loss: loss.total, lr: lr, correct: -1, seconds: time.Since(began).Seconds()}, nil
}

// endEpoch writes the epoch's records, runs the kNN monitor when due and
// appends the epoch to the history. Its time and masked-patch loss are
// kept only when all its steps ran in this session.
func (t *pretrainer) endEpoch(ctx context.Context, e *epochRun) (bool, error) {
	cfg, tot := t.Config, e.totals
	ep := PretrainEpoch{Epoch: e.epoch + 1, Loss: tot.lossSum / float64(tot.images), LR: t.sched.LR[t.step-1], Health: t.m.health()}
	if e.first == 0 {
		ep.Seconds, ep.PatchLoss = e.seconds, t.patchLossSum/float64(t.iters)
	}
	t.patchLossSum = 0
	rec := shared.Metric{Kind: shared.MetricEpoch, Epoch: ep.Epoch, Step: t.step, TotalEpochs: cfg.Train.Epochs, TotalSteps: t.total,
		Loss: new(ep.Loss), LR: new(ep.LR)}
	if ep.Seconds > 0 {
		rec.Seconds, rec.ImagesPerSec = new(ep.Seconds), new(float64(tot.images)/ep.Seconds)
	}
	if err := t.log.write(rec); err != nil {
		return false, err
	}
	msg := fmt.Sprintf("epoch %d health: %s", ep.Epoch, ep.Health)
	if ep.PatchLoss != 0 {
		msg += fmt.Sprintf("; masked-patch loss %.4f", ep.PatchLoss)
	}
	if err := t.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: ep.Epoch, Step: t.step, Message: msg}); err != nil {
		return false, err
	}
	if ep.Health.Collapse != "" {
		if err := t.log.write(shared.Metric{Kind: shared.MetricWarning, Epoch: ep.Epoch, Step: t.step,
			Message: fmt.Sprintf("possible collapse after epoch %d: %s", ep.Epoch, ep.Health.Collapse)}); err != nil {
			return false, err
		}
	}
	if ep.Epoch%cfg.Experiment.LogFreq == 0 || ep.Epoch == cfg.Train.Epochs {
		// The monitor runs to the end even when ctx is done: an epoch is
		// never left half evaluated.
		rep, err := t.knnMonitor(context.WithoutCancel(ctx))
		if err != nil {
			return false, fmt.Errorf("ssl: epoch %d: kNN monitor: %w", ep.Epoch, err)
		}
		if t.gain, err = rep.gainOver(*t.pixelKNN, t.ValSet); err != nil {
			return false, fmt.Errorf("ssl: epoch %d: kNN monitor against the pixels: %w", ep.Epoch, err)
		}
		t.knn = &rep
		all := rep.All
		ep.KNNAccuracy, ep.KNNAUC = new(all.Accuracy), new(all.AUC)
		if len(rep.FewAUCs) > 0 {
			ep.KNNFewAUC = new(rep.FewAUC)
		}
		if err := t.log.write(shared.Metric{Kind: shared.MetricEval, Epoch: ep.Epoch, Step: t.step, Split: "val",
			Accuracy: new(all.Accuracy), AUC: new(all.AUC)}); err != nil {
			return false, err
		}
		if err := t.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: ep.Epoch, Step: t.step,
			Message: fmt.Sprintf("epoch %d kNN monitor on val: %s", ep.Epoch, t.knnSummary())}); err != nil {
			return false, err
		}
	}
	t.history = append(t.history, ep)
	return false, nil
}

// knnMonitor embeds the train and val centre crops with the evaluated
// backbone and classifies val by DINO's weighted kNN vote, with every
// train label and with each few-label bank. The first call also reads the
// monitor with the normalised pixels as features, the floor it reports
// beside the backbone's.
func (t *pretrainer) knnMonitor(ctx context.Context) (KNNReading, error) {
	k := t.Config.Train.KNNNeighbours
	if t.pixelKNN == nil {
		floor, err := readKNN(t.TrainSet.rows(), t.ValSet.rows(), t.TrainSet, t.ValSet, t.fewBanks, k)
		if err != nil {
			return KNNReading{}, fmt.Errorf("pixels as features: %w", err)
		}
		t.pixelKNN = &floor
	}
	ps, err := withZeroHead(t.m.evalParams())
	if err != nil {
		return KNNReading{}, err
	}
	c, err := nn.NewClassifier(ps, nn.Options{Batch: knnMonitorBatch})
	if err != nil {
		return KNNReading{}, err
	}
	defer c.Close()
	tf, err := Features(ctx, c, t.TrainSet, nil)
	if err != nil {
		return KNNReading{}, err
	}
	qf, err := Features(ctx, c, t.ValSet, nil)
	if err != nil {
		return KNNReading{}, err
	}
	return readKNN(tf, qf, t.TrainSet, t.ValSet, t.fewBanks, k)
}

// knnSummary states the latest kNN reading and its gain over the pixels'.
func (t *pretrainer) knnSummary() string {
	r, px, g := t.knn, t.pixelKNN, t.gain
	s := fmt.Sprintf("AUC %s voting with all %d labelled train images", aucText(r.All.AUC, r.All.AUCCI), t.TrainSet.Len())
	if g.Few == nil {
		return s + fmt.Sprintf("; over the normalised pixels' %.4f: %s", px.All.AUC, diffText(g.All))
	}
	return s + fmt.Sprintf(", %.4f with %d (mean of %d draws); over the normalised pixels' %.4f and %.4f: %s and %s",
		r.FewAUC, FewLabels, len(r.FewAUCs), px.All.AUC, px.FewAUC, diffText(g.All), diffText(*g.Few))
}

// withZeroHead returns a classifier parameter set sharing backbone's
// storage, with a zero two-class head: nn.Classifier's features need one.
func withZeroHead(backbone *vit.Params) (*vit.Params, error) {
	ps := &vit.Params{Preset: backbone.Preset, NumClasses: 2}
	for _, p := range backbone.List() {
		q, err := ps.Add(p.Name, p.Shape)
		if err != nil {
			return nil, err
		}
		q.Data = p.Data
	}
	if _, err := ps.Add("head.weight", []int{2, backbone.Preset.Dim}); err != nil {
		return nil, err
	}
	_, err := ps.Add("head.bias", []int{2})
	return ps, err
}

// saveCheckpoint writes checkpoints/last after epochs epochs (or within
// the next, when stopping): the evaluated backbone, the history, then the
// training state with the shuffling generator as the next steps start
// from it.
func (t *pretrainer) saveCheckpoint(epochs int, rng []byte) error {
	var metrics map[string]float64
	if n := len(t.history); n > 0 && t.history[n-1].Epoch == epochs && t.history[n-1].KNNAccuracy != nil {
		metrics = map[string]float64{"knn_accuracy": *t.history[n-1].KNNAccuracy, "knn_auc": *t.history[n-1].KNNAUC}
	}
	dir := t.run().Path(layout.LastDir)
	sc := ckpt.Sidecar{Config: t.cfgJSON, Epoch: epochs, Step: t.step, Metrics: metrics, Normalization: toCkpt(t.Norm)}
	if err := saveModel(dir, t.m.evalParams(), sc); err != nil {
		return err
	}
	if s := t.m.studentParams(); s != nil {
		if err := saveWeights(t.run().Student(layout.LastDir), s, sc); err != nil {
			return err
		}
	}
	if err := writeJSON(layout.Run(dir).Path(historyFile), t.history); err != nil {
		return err
	}
	st := ckpt.State{Step: t.step, Epoch: epochs, RNG: rng, OptimStep: t.opt.Steps(), Optim: t.opt.State(), Extra: map[string][]float32{}}
	if t.lastOpt != nil {
		for k, v := range t.lastOpt.State() {
			st.Optim[k] = v
		}
	}
	t.m.state(st.Extra)
	if err := ckpt.SaveState(dir, st); err != nil {
		return err
	}
	return t.log.write(shared.Metric{Kind: shared.MetricLog, Epoch: epochs, Step: t.step, Checkpoint: layout.LastDir,
		Message: fmt.Sprintf("saved %s after epoch %d, step %d (%s backbone)", layout.LastDir, epochs, t.step, t.m.network())})
}

// restoreOptimisers loads both optimisers' buffers from st. The last-layer
// optimiser has stepped once per step after the freeze.
func (t *pretrainer) restoreOptimisers(st ckpt.State) error {
	mainState, lastState := map[string][]float32{}, map[string][]float32{}
	isLast := map[string]bool{}
	for _, v := range t.last {
		isLast[v.Name] = true
	}
	for k, v := range st.Optim {
		_, name, _ := strings.Cut(k, ".")
		if isLast[name] {
			lastState[k] = v
		} else {
			mainState[k] = v
		}
	}
	if err := t.opt.SetState(st.OptimStep, mainState); err != nil {
		return err
	}
	if t.lastOpt != nil {
		frozen := min(st.Step, t.Config.Train.FreezeLastLayer*t.iters)
		return t.lastOpt.SetState(st.Step-frozen, lastState)
	}
	return nil
}
