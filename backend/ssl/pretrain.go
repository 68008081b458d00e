package ssl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// streamHead seeds a pretraining head's initial weights (see streamInit).
const streamHead = 3

// Names a pretraining run adds to its folder. The report is not
// report.json, which names a classifier run's results.
const (
	PretrainReportJSON = "pretrain_report.json"
	PretrainReportMD   = "pretrain_report.md"
	historyFile        = "history.json" // in checkpoints/last: the epochs up to it
)

// knnMonitorBatch is the batch of the feature machine the kNN monitor runs.
const knnMonitorBatch = 64

// PretrainRun is a prepared self-supervised pretraining run (DINO, iBOT or
// SimSiam) on the train split's images, without their labels.
//
// Every step draws a batch of batch_size images from a fresh shuffle
// (the last incomplete batch of an epoch is dropped, as DINO's loader
// does, so BatchNorm never sees a tiny batch), augments each with its own
// generator (augment.SampleRNG(seed, epoch, image)) into the method's views,
// trains the student with the optimizer of the config on the per-step
// schedules (Schedules; the learning rate is scaled by batch_size/256 as the
// reference project and DINO do), clips the gradients by their global norm
// when optimizer.clip_grad_magnitude > 0 (the reference clipped each tensor
// by its own norm, as DINO's clip_gradients), and then moves the teacher.
// train args.freeze_last_layer keeps DINO's and iBOT's last layer fixed
// for that many epochs; it has an optimiser of its own, so its moments and
// bias correction start when it starts training, as PyTorch's per-parameter
// state does.
//
// Each epoch ends with the collapse monitor (Health, on the epoch's last
// batch: a warning record when it finds a collapse); every log_freq epochs
// and at the end the kNN monitor (k knn_neighbours, T 0.1, on the CLS
// features of the centre crops, train split voting for val) and a
// checkpoint. The run folder is a classifier run's (config.resolved.yaml,
// metrics.jsonl, checkpoints/last) plus pretrain_report.json and .md.
// checkpoints/last/model.safetensors holds the backbone a downstream
// fine-tune or kNN evaluation loads, timm names and no head: for DINO and
// iBOT the teacher's, the network DINO evaluates and releases, for SimSiam
// the encoder's. state.safetensors holds the rest, so that a resumed run
// continues bit for bit: the optimiser moments, the student (DINO, iBOT),
// the heads, the BatchNorm running statistics, the centres and the
// shuffling generator.
type PretrainRun struct {
	Config *config.Config
	Dir    string
	Norm   augment.Normalization
	// TrainSet and ValSet hold the normalised centre crops the kNN monitor
	// embeds, with their labels.
	TrainSet, ValSet *Set

	raw     []data.Image // train images at center_crop, in flux units: the augmentation's input
	pipe    augment.Pipeline
	m       pretrainMethod
	cfgJSON json.RawMessage
	log     *metricsLog
	resume  *pretrainResume
}

// pretrainResume is where a resumed run picks up.
type pretrainResume struct {
	state   ckpt.State
	history []PretrainEpoch
	partial epochTotals
}

// PretrainEpoch is one epoch of a pretraining run.
type PretrainEpoch struct {
	Epoch     int     `json:"epoch"`
	Loss      float64 `json:"loss"`                 // mean over the epoch's steps
	PatchLoss float64 `json:"patch_loss,omitempty"` // iBOT: the masked-patch part of Loss
	LR        float64 `json:"lr"`                   // at the epoch's last step
	Seconds   float64 `json:"seconds"`              // training steps only; 0 for an epoch split by a resume
	Health    Health  `json:"health"`
	// KNNAccuracy and KNNAUC are the kNN monitor's on val, when it ran
	// after this epoch.
	KNNAccuracy *float64 `json:"knn_accuracy,omitempty"`
	KNNAUC      *float64 `json:"knn_auc,omitempty"`
}

// PretrainReport is a finished pretraining run, written to
// pretrain_report.json and rendered to pretrain_report.md.
type PretrainReport struct {
	Name     string        `json:"name"`
	Method   config.Method `json:"method"`
	Backbone string        `json:"backbone"`
	// Model is the run-relative checkpoint downstream runs load and
	// Network says whose backbone it holds: teacher or student.
	Model         string             `json:"model"`
	Network       string             `json:"network"`
	Epochs        int                `json:"epochs"`
	Steps         int                `json:"steps"`
	Seed          uint64             `json:"seed"`
	TrainImages   int                `json:"train_images"`
	Normalization ckpt.Normalization `json:"normalization"`
	History       []PretrainEpoch    `json:"history"`
	// KNN is the final kNN monitor on val.
	KNN eval.Report `json:"knn"`
}

// Checkpoint returns the model file downstream runs load (a fine-tune's
// finetune.checkpoint, `sslens eval --knn`).
func (r *PretrainRun) Checkpoint() string { return filepath.Join(r.Dir, LastDir, ModelFile) }

// NewPretrainRun checks cfg (a dino, ibot or simsiam config), loads the
// data, builds or restores the networks and opens the run folder:
// experiment.output_dir for a fresh run, which must not hold a run
// already, or the run resumed (opt.Resume, or restore.restore). Setup notes
// and config warnings become the first records of the metrics stream. Call
// Close when done.
func NewPretrainRun(cfg *config.Config, opt Options) (*PretrainRun, error) {
	p, err := cfg.Preset()
	if err != nil {
		return nil, err
	}
	return newPretrainRun(cfg, opt, p)
}

// newPretrainRun is NewPretrainRun with the backbone preset given, so that
// tests can train a ViT smaller than any named preset.
func newPretrainRun(cfg *config.Config, opt Options, p vit.Preset) (*PretrainRun, error) {
	if err := CheckPretrain(cfg, p); err != nil {
		return nil, err
	}
	r := &PretrainRun{Config: cfg}
	var notes []Record
	logf := func(kind Kind, format string, a ...any) {
		notes = append(notes, Record{Kind: kind, Message: fmt.Sprintf(format, a...)})
	}
	for _, w := range cfg.Warnings {
		logf(KindWarning, "config: %s", w)
	}
	// The folder rules are the classifier's: the same resume paths and
	// config comparison.
	dirs := &ClassifierRun{Config: cfg}
	ckptDir, err := dirs.openDir(opt.Resume)
	if err != nil {
		return nil, err
	}
	r.Dir = dirs.Dir

	dataDir := cfg.Input.DataPath
	splitsPath := cmp.Or(cfg.Input.Indices, data.SplitsFile(dataDir))
	if splitsPath == "" {
		return nil, fmt.Errorf("ssl: %s has no splits.json or indices.pkl; set input.indices", dataDir)
	}
	splits, err := data.ReadSplits(splitsPath)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name string
		cf   data.ClassFiles
	}{{"train", splits.Train}, {"val", splits.Val}} {
		if len(s.cf.Lenses) == 0 || len(s.cf.NonLenses) == 0 {
			return nil, fmt.Errorf("ssl: %s: the %s images have %d lenses and %d non-lenses; the kNN monitor needs both classes",
				splitsPath, s.name, len(s.cf.Lenses), len(s.cf.NonLenses))
		}
	}
	if n, b := splits.Train.Len(), cfg.Train.BatchSize; n < b {
		return nil, fmt.Errorf("ssl: train args.batch_size: %d is larger than the %d train images (an epoch drops its incomplete last batch)", b, n)
	}

	var sc ckpt.Sidecar
	if ckptDir != "" {
		if sc, _, err = readSidecar(ckptDir); err != nil {
			return nil, err
		}
		if r.Norm, err = toAugment(sc.Normalization); err != nil {
			return nil, fmt.Errorf("ssl: %s: normalisation: %w", ckptDir, err)
		}
	} else if r.Norm, err = statsNormalization(dataDir, splits, cfg.Input.ImageSize[0]); err != nil {
		return nil, err
	}
	if err := r.loadData(dataDir, splits); err != nil {
		return nil, err
	}
	logf(KindLog, "pretraining %s %s on the %d train images (%d steps of %d per epoch), kNN monitor on %d val images",
		cfg.Experiment.Method, p.Name, len(r.raw), r.itersPerEpoch(), cfg.Train.BatchSize, r.ValSet.Len())
	if r.pipe, err = augment.NewPipeline(cfg.Augmentation, cfg.Network.MaskConfig, r.Norm); err != nil {
		return nil, err
	}
	if r.m, err = newMethod(cfg, p); err != nil {
		return nil, err
	}
	for _, n := range r.m.notes() {
		logf(KindLog, "%s", n)
	}
	if r.cfgJSON, err = configJSON(cfg); err != nil {
		r.m.close()
		return nil, err
	}

	var kept []Record
	if ckptDir != "" {
		kept, err = r.loadResumePoint(ckptDir, sc)
		if err == nil {
			st := r.resume.state
			logf(KindLog, "resumed from %s at epoch %d, step %d", filepath.Join(r.Dir, LastDir), st.Epoch, st.Step)
		}
	} else if err = os.MkdirAll(r.Dir, 0o755); err != nil {
		err = fmt.Errorf("ssl: %w", err)
	} else {
		err = writeConfig(filepath.Join(r.Dir, ConfigFile), cfg)
	}
	if err == nil {
		r.log, err = openMetrics(filepath.Join(r.Dir, MetricsFile), kept, opt.Progress)
	}
	if err != nil {
		r.m.close()
		return nil, err
	}
	for _, n := range notes {
		n.Epoch, n.Step = r.position()
		if err := r.log.write(n); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// CheckPretrain checks what a pretraining run of cfg on a backbone of
// preset p needs beyond config.Validate, naming the key path: a method
// that pretrains, heads with at least one layer, iBOT's mask patches the
// backbone's, crops that hold a patch, and batches BatchNorm can use.
func CheckPretrain(cfg *config.Config, p vit.Preset) error {
	if !cfg.IsSSL() {
		return fmt.Errorf("ssl: experiment.ssl_training: %q is not a pretraining method (dino, ibot or simsiam); train classifiers with sslens finetune", cfg.Experiment.Method)
	}
	n, a := cfg.Network, cfg.Augmentation
	type check struct {
		bad bool
		msg string
	}
	checks := []check{{cfg.Train.BatchSize < 2, fmt.Sprintf("train args.batch_size: %d: the heads' BatchNorm needs at least 2 images", cfg.Train.BatchSize)}}
	want := augment.MethodDINO
	switch cfg.Experiment.Method {
	case config.SimSiam:
		want = augment.MethodSimSiam
	case config.IBOT:
		want = augment.MethodIBOT
	}
	if m, err := a.Method(); err != nil || m != want {
		return fmt.Errorf("ssl: ssl augmentation kwargs.augmentation: %q does not make %s's views (want %s)", a.Augmentation, cfg.Experiment.Method, want)
	}
	if cfg.Experiment.Method == config.SimSiam {
		checks = append(checks,
			check{n.ProjectorNLayers < 1, fmt.Sprintf("network.projector_head_nlayers: %d: want at least 1", n.ProjectorNLayers)},
			check{n.ProjectorHiddenDim <= 0, fmt.Sprintf("network.projector_head_hidden_dim: %d: want a positive size", n.ProjectorHiddenDim)},
			check{n.HeadOutputDim <= 0, fmt.Sprintf("network.head_output_dim: %d: want a positive size", n.HeadOutputDim)},
			check{n.PredictorHiddenDim < 0, fmt.Sprintf("network.predictor_head_hidden_dim: %d: want 0 (one Linear) or a positive size", n.PredictorHiddenDim)},
			check{a.CropSize < p.PatchSize, fmt.Sprintf("ssl augmentation kwargs.crop_size: %d px holds no %d px patch", a.CropSize, p.PatchSize)},
		)
	} else {
		checks = append(checks,
			check{n.HeadNLayers < 1, fmt.Sprintf("network.head_nlayers: %d: want at least 1", n.HeadNLayers)},
			check{a.GlobalCropSize < p.PatchSize, fmt.Sprintf("ssl augmentation kwargs.global_crop_size: %d px holds no %d px patch", a.GlobalCropSize, p.PatchSize)},
			check{a.NumLocalCrops > 0 && a.LocalCropSize < p.PatchSize, fmt.Sprintf("ssl augmentation kwargs.local_crop_size: %d px holds no %d px patch", a.LocalCropSize, p.PatchSize)},
		)
	}
	if cfg.Experiment.Method == config.IBOT {
		checks = append(checks,
			check{n.MaskConfig.PatchSize != p.PatchSize, fmt.Sprintf("network.patch_size: %d: the %s backbone's patches are %d px", n.MaskConfig.PatchSize, p.Name, p.PatchSize)},
			check{!n.SharedHead && n.PatchOutDim <= 0, fmt.Sprintf("network.patch_out_dim: %d: want a positive size with shared_head false", n.PatchOutDim)},
		)
	}
	for _, c := range checks {
		if c.bad {
			return errors.New("ssl: " + c.msg)
		}
	}
	return nil
}

// loadData reads the train images for augmentation and the kNN sets.
func (r *PretrainRun) loadData(dir string, splits data.Splits) error {
	cfg := r.Config
	ims, labels, err := (&data.Dataset{Dir: dir}).Load(splits.Train, data.ReadOptions{Crop: cfg.Augmentation.CenterCrop})
	if err != nil {
		return err
	}
	r.raw = ims
	size := cfg.Input.ImageSize[0]
	r.TrainSet = NewSet(size)
	i := 0
	for _, l := range []data.Label{data.Lens, data.NonLens} {
		for _, name := range splits.Train.Files(l) {
			im := ims[i]
			if im.H != size || im.W != size {
				if im, err = data.CenterCrop(im, size, size); err != nil {
					return fmt.Errorf("ssl: %s/%s: input.image size %d: %w", data.ClassDirs[l], name, size, err)
				}
			}
			if err := r.TrainSet.Add(data.ClassDirs[l]+"/"+name, int(labels[i]), im, r.Norm); err != nil {
				return err
			}
			i++
		}
	}
	r.ValSet, err = LoadSet(dir, splits.Val, size, r.Norm)
	return err
}

// itersPerEpoch is the number of full batches of an epoch.
func (r *PretrainRun) itersPerEpoch() int { return len(r.raw) / r.Config.Train.BatchSize }

// position is the epoch and step a fresh or resumed run starts at.
func (r *PretrainRun) position() (epoch, step int) {
	if r.resume == nil {
		return 0, 0
	}
	return r.resume.state.Epoch, r.resume.state.Step
}

// Close releases the networks and closes the metrics stream.
func (r *PretrainRun) Close() error {
	r.m.close()
	return r.log.close()
}

// Extra-state prefixes of a pretraining checkpoint.
const (
	extraStudent        = "student/"         // the student's backbone, when the model file holds the teacher's
	extraHead           = "head/"            // the student's head (and iBOT's mask token)
	extraTeacherHead    = "teacher_head/"    // DINO, iBOT
	extraBuffers        = "buffers/"         // the student's BatchNorm running statistics
	extraTeacherBuffers = "teacher_buffers/" // DINO, iBOT
)

// loadResumePoint restores the networks and the training state from
// checkpoints/last, and recovers the epochs done and the interrupted
// epoch's running loss. Records written after the checkpoint (a crash
// between checkpoints) are dropped, since those steps are redone; it
// returns the records to keep.
func (r *PretrainRun) loadResumePoint(ckptDir string, sc ckpt.Sidecar) ([]Record, error) {
	iters, epochs := r.itersPerEpoch(), r.Config.Train.Epochs
	st, err := loadResumeState(ckptDir, r.Dir, PretrainReportMD, sc, iters, epochs)
	if err != nil {
		return nil, err
	}
	if _, err := ckpt.LoadInto(filepath.Join(ckptDir, ModelFile), r.m.evalParams()); err != nil {
		return nil, err
	}
	if err := r.m.restore(st.Extra); err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", ckptDir, err)
	}
	rp := &pretrainResume{state: st}
	b, err := os.ReadFile(filepath.Join(ckptDir, historyFile))
	if err != nil {
		return nil, fmt.Errorf("ssl: %w", err)
	}
	if err := json.Unmarshal(b, &rp.history); err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", filepath.Join(ckptDir, historyFile), err)
	}
	for len(rp.history) > 0 && rp.history[len(rp.history)-1].Epoch > st.Epoch {
		rp.history = rp.history[:len(rp.history)-1]
	}
	all, err := ReadMetrics(filepath.Join(r.Dir, MetricsFile))
	if err != nil {
		return nil, err
	}
	var kept []Record
	for _, rec := range all {
		if rec.Step > st.Step {
			break
		}
		kept = append(kept, rec)
		if rec.Kind == KindStep && rec.Epoch == st.Epoch+1 && rec.Loss != nil {
			rp.partial.add(*rec.Loss, r.Config.Train.BatchSize, 0)
		}
	}
	if want := st.Step - st.Epoch*iters; rp.partial.steps != want {
		return nil, fmt.Errorf("ssl: %s: has %d step records of epoch %d up to step %d, want %d", MetricsFile, rp.partial.steps, st.Epoch+1, st.Step, want)
	}
	r.resume = rp
	return kept, nil
}

// pretrainer is the state of one Train call.
type pretrainer struct {
	*PretrainRun
	sched      Schedules
	vars       []optim.Var // the student's trained parameters, all of them
	main, last []optim.Var // those the main optimiser and the last-layer one update
	opt, opt2  optim.Optimizer
	iters      int
	total      int
	step       int
	history    []PretrainEpoch
	batch      *viewBatch
	knn        *eval.Report // the latest kNN monitor
}

// Train pretrains for the config's epochs (the rest of them when
// resuming), then writes pretrain_report.json and .md and returns the
// report. When ctx ends, Train stops after the current step, saves
// checkpoints/last and returns an error wrapping ErrStopped.
func (r *PretrainRun) Train(ctx context.Context) (*PretrainReport, error) {
	cfg := r.Config
	t := &pretrainer{PretrainRun: r, iters: r.itersPerEpoch(), vars: r.m.vars()}
	epochs := cfg.Train.Epochs
	t.total = epochs * t.iters
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
		if t.opt2, err = optim.New(o.Name, t.last, o.DecayAll); err != nil {
			return nil, err
		}
	}

	pcg := rand.NewPCG(cfg.Experiment.Seed, streamShuffle)
	shuffle := rand.New(pcg)
	start, skip := 0, 0
	var partial epochTotals
	if rp := r.resume; rp != nil {
		st := rp.state
		if err := t.restoreOptimisers(st); err != nil {
			return nil, fmt.Errorf("ssl: %s: %w", filepath.Join(r.Dir, LastDir), err)
		}
		if err := pcg.UnmarshalBinary(st.RNG); err != nil {
			return nil, fmt.Errorf("ssl: %s: shuffling state: %w", filepath.Join(r.Dir, LastDir), err)
		}
		start, t.step, skip, partial = st.Epoch, st.Step, st.Step-st.Epoch*t.iters, rp.partial
		t.history = append(t.history, rp.history...)
	}
	t.batch = newViewBatch(cfg, r.m.patchGrid())

	n := len(r.raw)
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
		var seconds, patchSum float64
		for it := first; it < t.iters; it++ {
			if ctx.Err() != nil {
				return nil, t.stop(ctx, epoch, rngAtStart)
			}
			b := cfg.Train.BatchSize
			loss, dt, err := t.trainStep(epoch, perm[it*b:(it+1)*b])
			if err != nil {
				return nil, err
			}
			seconds += dt
			patchSum += loss.patch
			tot.add(loss.total, b, 0)
			if err := r.log.write(Record{Kind: KindStep, Epoch: epoch + 1, Step: t.step, TotalEpochs: epochs, TotalSteps: t.total,
				Loss: num(loss.total), LR: num(t.sched.LR[t.step-1]), ImagesPerSec: num(float64(b) / max(dt, 1e-9))}); err != nil {
				return nil, err
			}
		}
		ep := PretrainEpoch{Epoch: epoch + 1, Loss: tot.lossSum / float64(tot.images), LR: t.sched.LR[t.step-1], Health: r.m.health()}
		if first == 0 {
			ep.Seconds, ep.PatchLoss = seconds, patchSum/float64(t.iters)
		}
		if err := t.endEpoch(ctx, &ep, tot); err != nil {
			return nil, err
		}
		if (epoch+1)%cfg.Experiment.LogFreq == 0 || epoch+1 == epochs {
			rng, err := pcg.MarshalBinary() // the state the next epoch starts from
			if err != nil {
				return nil, fmt.Errorf("ssl: %w", err)
			}
			if err := t.saveLast(epoch+1, rng); err != nil {
				return nil, err
			}
		}
	}
	return t.report()
}

// stepLoss is one step's loss and, for iBOT, its masked-patch part.
type stepLoss struct{ total, patch float64 }

// trainStep runs one optimiser step of epoch on the images idx and returns
// the loss and the seconds the networks and optimisers took.
func (t *pretrainer) trainStep(epoch int, idx []int) (stepLoss, float64, error) {
	if err := t.batch.fill(t.pipe, t.raw, idx, t.Config.Experiment.Seed, epoch); err != nil {
		return stepLoss{}, 0, err
	}
	began := time.Now()
	t.m.reseed(uint64(t.step))
	loss, err := t.m.step(t.batch, epoch)
	if err != nil {
		return stepLoss{}, 0, fmt.Errorf("ssl: step %d: %w", t.step+1, err)
	}
	if math.IsNaN(loss.total) || math.IsInf(loss.total, 0) {
		return stepLoss{}, 0, fmt.Errorf("ssl: step %d: loss %v", t.step+1, loss.total)
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
	if t.opt2 != nil && !frozen {
		t.opt2.Step(lr, wd)
	}
	t.m.update(t.sched.Momentum[t.step])
	t.step++
	return loss, time.Since(began).Seconds(), nil
}

// endEpoch writes the epoch's records, runs the kNN monitor when due and
// appends the epoch to the history.
func (t *pretrainer) endEpoch(ctx context.Context, ep *PretrainEpoch, tot epochTotals) error {
	cfg := t.Config
	rec := Record{Kind: KindEpoch, Epoch: ep.Epoch, Step: t.step, TotalEpochs: cfg.Train.Epochs, TotalSteps: t.total,
		Loss: num(ep.Loss), LR: num(ep.LR)}
	if ep.Seconds > 0 {
		rec.Seconds, rec.ImagesPerSec = num(ep.Seconds), num(float64(tot.images)/ep.Seconds)
	}
	if err := t.log.write(rec); err != nil {
		return err
	}
	msg := fmt.Sprintf("epoch %d health: %s", ep.Epoch, ep.Health)
	if ep.PatchLoss != 0 {
		msg += fmt.Sprintf("; masked-patch loss %.4f", ep.PatchLoss)
	}
	if err := t.log.write(Record{Kind: KindLog, Epoch: ep.Epoch, Step: t.step, Message: msg}); err != nil {
		return err
	}
	if ep.Health.Collapse != "" {
		if err := t.log.write(Record{Kind: KindWarning, Epoch: ep.Epoch, Step: t.step,
			Message: fmt.Sprintf("possible collapse after epoch %d: %s", ep.Epoch, ep.Health.Collapse)}); err != nil {
			return err
		}
	}
	if ep.Epoch%cfg.Experiment.LogFreq == 0 || ep.Epoch == cfg.Train.Epochs {
		// The monitor runs to the end even when ctx is done: an epoch is
		// never left half evaluated.
		rep, err := t.knnMonitor(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("ssl: epoch %d: kNN monitor: %w", ep.Epoch, err)
		}
		t.knn = &rep
		ep.KNNAccuracy, ep.KNNAUC = num(rep.Accuracy), num(rep.AUC)
		if err := t.log.write(Record{Kind: KindEval, Epoch: ep.Epoch, Step: t.step, Split: "val",
			Accuracy: num(rep.Accuracy), AUC: num(rep.AUC)}); err != nil {
			return err
		}
	}
	t.history = append(t.history, *ep)
	return nil
}

// knnMonitor embeds the train and val centre crops with the evaluated
// backbone and classifies val by DINO's weighted kNN vote.
func (t *pretrainer) knnMonitor(ctx context.Context) (eval.Report, error) {
	ps, err := withZeroHead(t.m.evalParams())
	if err != nil {
		return eval.Report{}, err
	}
	c, err := nn.NewClassifier(ps, nn.Options{Batch: knnMonitorBatch})
	if err != nil {
		return eval.Report{}, err
	}
	defer c.Close()
	k := min(t.Config.Train.KNNNeighbours, t.TrainSet.Len())
	return EvaluateKNN(ctx, c, t.TrainSet, t.ValSet, k, eval.KNNTemperature, eval.Options{Threshold: 0.5}, nil)
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

// saveLast writes checkpoints/last after epochs epochs (or within the
// next, when stopping): the evaluated backbone, the history, then the
// training state with the shuffling generator as the next epoch (or this
// one, when stopping) starts from it.
func (t *pretrainer) saveLast(epochs int, rng []byte) error {
	var metrics map[string]float64
	if n := len(t.history); n > 0 && t.history[n-1].Epoch == epochs && t.history[n-1].KNNAccuracy != nil {
		metrics = map[string]float64{"knn_accuracy": *t.history[n-1].KNNAccuracy, "knn_auc": *t.history[n-1].KNNAUC}
	}
	dir := filepath.Join(t.Dir, LastDir)
	sc := ckpt.Sidecar{Config: t.cfgJSON, Epoch: epochs, Step: t.step, Metrics: metrics, Normalization: toCkpt(t.Norm)}
	if err := saveModel(dir, t.m.evalParams(), sc); err != nil {
		return err
	}
	b, err := json.MarshalIndent(t.history, "", "  ")
	if err != nil {
		return fmt.Errorf("ssl: history: %w", err)
	}
	if err := writeFile(filepath.Join(dir, historyFile), append(b, '\n')); err != nil {
		return err
	}
	st := ckpt.State{Step: t.step, Epoch: epochs, RNG: rng, OptimStep: t.opt.Steps(), Optim: t.opt.State(), Extra: map[string][]float32{}}
	if t.opt2 != nil {
		for k, v := range t.opt2.State() {
			st.Optim[k] = v
		}
	}
	t.m.state(st.Extra)
	if err := ckpt.SaveState(dir, st); err != nil {
		return err
	}
	return t.log.write(Record{Kind: KindLog, Epoch: epochs, Step: t.step, Checkpoint: LastDir,
		Message: fmt.Sprintf("saved %s after epoch %d, step %d (%s backbone)", LastDir, epochs, t.step, t.m.network())})
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
	if t.opt2 != nil {
		frozen := min(st.Step, t.Config.Train.FreezeLastLayer*t.iters)
		return t.opt2.SetState(st.Step-frozen, lastState)
	}
	return nil
}

// stop saves checkpoints/last in the middle of epoch (0-based), whose
// shuffle started from rngAtStart, and returns the error Train reports.
func (t *pretrainer) stop(ctx context.Context, epoch int, rngAtStart []byte) error {
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

// report writes pretrain_report.json and .md.
func (t *pretrainer) report() (*PretrainReport, error) {
	cfg := t.Config
	rep := &PretrainReport{Name: cfg.Experiment.Name, Method: cfg.Experiment.Method, Backbone: t.m.evalParams().Preset.Name,
		Model: filepath.Join(LastDir, ModelFile), Network: t.m.network(), Epochs: cfg.Train.Epochs, Steps: t.step,
		Seed: cfg.Experiment.Seed, TrainImages: len(t.raw), Normalization: toCkpt(t.Norm), History: t.history}
	if t.knn != nil {
		rep.KNN = *t.knn
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("ssl: report: %w", err)
	}
	if err := writeFile(filepath.Join(t.Dir, PretrainReportJSON), append(b, '\n')); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(t.Dir, PretrainReportMD), []byte(rep.Markdown())); err != nil {
		return nil, err
	}
	return rep, t.log.write(Record{Kind: KindLog, Epoch: cfg.Train.Epochs, Step: t.step,
		Message: fmt.Sprintf("finished: kNN on val accuracy %.2f%%, AUC %.4f; the %s backbone is in %s; see %s",
			100*rep.KNN.Accuracy, rep.KNN.AUC, rep.Network, rep.Model, PretrainReportMD)})
}

// Markdown renders the report: the run, then one row per epoch.
func (r *PretrainReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Name)
	fmt.Fprintf(&b, "%s pretraining of %s on %d train images, %d epochs (%d steps), seed %d. %s holds the %s backbone.\n\n",
		r.Method, r.Backbone, r.TrainImages, r.Epochs, r.Steps, r.Seed, r.Model, r.Network)
	fmt.Fprintf(&b, "Final kNN monitor on val: accuracy %.2f%%, AUC %.4f.\n\n", 100*r.KNN.Accuracy, r.KNN.AUC)
	b.WriteString("| epoch | loss | lr | kNN accuracy | kNN AUC | health | collapse |\n|---|---|---|---|---|---|---|\n")
	for _, e := range r.History {
		acc, auc := "", ""
		if e.KNNAccuracy != nil {
			acc, auc = fmt.Sprintf("%.2f%%", 100**e.KNNAccuracy), fmt.Sprintf("%.4f", *e.KNNAUC)
		}
		fmt.Fprintf(&b, "| %d | %.4f | %.3g | %s | %s | %s | %s |\n", e.Epoch, e.Loss, e.LR, acc, auc, e.Health, e.Health.Collapse)
	}
	return b.String()
}

// viewBatch holds one batch of views, crop-major: view v of image j is
// image v·n+j of its group, the layout the networks take.
type viewBatch struct {
	n                         int
	globals, locals           []float32
	globalSize, localSize     int
	numGlobal, numLocal       int
	grid                      int // patches per side of a global view; 0 without masks
	masks                     []bool
	views                     []augment.Views // per worker
	workers                   int
	globalStride, localStride int // values per global and local view
}

// newViewBatch sizes a batch for cfg's method; grid is the mask grid side
// (0 without masks).
func newViewBatch(cfg *config.Config, grid int) *viewBatch {
	a, n := cfg.Augmentation, cfg.Train.BatchSize
	b := &viewBatch{n: n, numGlobal: nn.Globals, grid: grid, workers: runtime.GOMAXPROCS(0)}
	if cfg.Experiment.Method == config.SimSiam {
		b.globalSize = a.CropSize
	} else {
		b.globalSize, b.localSize, b.numLocal = a.GlobalCropSize, a.LocalCropSize, a.NumLocalCrops
	}
	b.globalStride, b.localStride = 3*b.globalSize*b.globalSize, 3*b.localSize*b.localSize
	b.globals = make([]float32, b.numGlobal*n*b.globalStride)
	b.locals = make([]float32, b.numLocal*n*b.localStride)
	if grid > 0 {
		b.masks = make([]bool, b.numGlobal*n*grid*grid)
	}
	b.views = make([]augment.Views, b.workers)
	return b
}

// fill augments images idx of raw into the batch, each image with its own
// generator, on all cores: the result does not depend on the split.
func (b *viewBatch) fill(p augment.Pipeline, raw []data.Image, idx []int, seed uint64, epoch int) error {
	errs := make([]error, b.workers)
	var wg sync.WaitGroup
	for w := range b.workers {
		wg.Go(func() {
			v := &b.views[w]
			for j := w; j < len(idx); j += b.workers {
				i := idx[j]
				if err := p.ApplyInto(v, raw[i], augment.SampleRNG(seed, epoch, i)); err != nil {
					errs[w] = fmt.Errorf("ssl: train image %d: %w", i, err)
					return
				}
				for g, im := range v.Global {
					copy(b.globals[(g*b.n+j)*b.globalStride:], im.Pix)
				}
				for l, im := range v.Local {
					copy(b.locals[(l*b.n+j)*b.localStride:], im.Pix)
				}
				if b.grid > 0 {
					P := b.grid * b.grid
					for g, m := range v.Masks {
						copy(b.masks[(g*b.n+j)*P:(g*b.n+j+1)*P], m)
					}
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
