package ssl

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/memplan"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/shared"
)

// PretrainRun is a prepared self-supervised pretraining run (DINO, iBOT or
// SimSiam) on the train split's images, without their labels.
//
// Every step draws a batch of batch_size images from a fresh shuffle
// (the last incomplete batch of an epoch is dropped, as DINO's loader
// does, so BatchNorm never sees a tiny batch), augments each with its own
// generator (augment.SampleRNG(seed, epoch, image)) into the method's views,
// trains the student with the optimizer of the config on the per-step
// schedules (Schedules; init_lr is the peak learning rate, as in the
// reference project, or scaled by batch_size/256 as DINO does with
// optimizer.scale_lr_by_batch), clips the gradients by their global norm
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
	runFolder
	// TrainSet and ValSet hold the normalised centre crops the kNN monitor
	// embeds, with their labels.
	TrainSet, ValSet *Set
	// fewBanks are the few-label kNN monitor's voters, indices into
	// TrainSet (labelBanks); none when its train split is too small.
	fewBanks [][]int

	raw           []data.Image // train images at center_crop, in flux units: the augmentation's input
	pipe          augment.Pipeline
	m             pretrainMethod
	resumedEpochs []PretrainEpoch // the epochs before the checkpoint resumed
}

// Checkpoint returns the model file downstream runs load (a fine-tune's
// finetune.checkpoint, `sslens eval --knn`).
func (r *PretrainRun) Checkpoint() string { return r.run().Model(layout.LastDir) }

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
	r := &PretrainRun{runFolder: runFolder{Config: cfg}}
	ckptDir, splits, _, err := r.open(opt)
	if err != nil {
		return nil, err
	}
	knnDir, knnSplits, knnPath, err := knnData(cfg, splits)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name string
		cf   data.ClassFiles
	}{{"train", knnSplits.Train}, {"val", knnSplits.Val}} {
		if len(s.cf.Lenses) == 0 || len(s.cf.NonLenses) == 0 {
			hint := ""
			if cfg.Train.KNNDataset == "" {
				hint = " (for unlabelled data, name a labelled dataset in train args.knn_dataset)"
			}
			return nil, fmt.Errorf("ssl: %s: the %s images have %d lenses and %d non-lenses; the kNN monitor needs both classes%s",
				knnPath, s.name, len(s.cf.Lenses), len(s.cf.NonLenses), hint)
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
	} else if r.Norm, err = StatsNormalization(cfg.Input.DataPath, splits, cfg.Input.ImageSize[0]); err != nil {
		return nil, err
	}
	if err := r.loadData(cfg.Input.DataPath, splits, knnDir, knnSplits); err != nil {
		return nil, err
	}
	banks, bankErr := labelBanks(r.TrainSet, knnSplits.Train, FewLabels, fewLabelDraws)
	if bankErr != nil {
		r.note(shared.MetricLog, "the kNN monitor votes with every train label only, not with %d: %v", FewLabels, bankErr)
	}
	r.fewBanks = banks
	monitor := ""
	if cfg.Train.KNNDataset != "" {
		monitor = " of " + knnDir
	}
	r.note(shared.MetricLog, "pretraining %s %s on the %d train images (%d steps of %d per epoch), kNN monitor on %d val images%s",
		cfg.Experiment.Method, p.Name, len(r.raw), r.batches().iters, cfg.Train.BatchSize, r.ValSet.Len(), monitor)
	if r.pipe, err = augment.NewPipeline(cfg.Augmentation, cfg.Network.MaskConfig, r.Norm); err != nil {
		return nil, err
	}
	var held int64 // bytes of the images in memory
	for _, im := range r.raw {
		held += 4 * int64(len(im.Pix))
	}
	held += 4 * int64((r.TrainSet.Len()+r.ValSet.Len())*r.TrainSet.stride())
	plan, err := memplan.Choose(cfg, memplan.PretrainStep(cfg, p, held))
	if err != nil {
		return nil, err
	}
	r.note(shared.MetricLog, "%s", plan.Note(cfg.Train.BatchSize))
	if r.m, err = newMethod(cfg, p, plan.Chunk); err != nil {
		return nil, err
	}
	for _, n := range r.m.notes() {
		r.note(shared.MetricLog, "%s", n)
	}
	var kept []shared.Metric
	if r.cfgJSON, err = cfg.JSON(); err == nil {
		if ckptDir != "" {
			kept, err = r.loadResumePoint(ckptDir, sc)
		} else {
			err = r.create()
		}
	}
	if err == nil {
		err = r.openLog(kept, opt.Progress)
	}
	if err != nil {
		r.m.close()
		return nil, err
	}
	return r, nil
}

// loadData reads the train images for augmentation and the kNN sets: the
// train and val splits of knnDir, which when it is the training data's
// folder share the train images read.
func (r *PretrainRun) loadData(dir string, splits data.Splits, knnDir string, knnSplits data.Splits) error {
	cfg := r.Config
	ims, labels, err := (&data.Dataset{Dir: dir}).Load(splits.Train, data.ReadOptions{Crop: cfg.Augmentation.CenterCrop})
	if err != nil {
		return err
	}
	r.raw = ims
	size := cfg.Input.ImageSize[0]
	if knnDir != dir {
		if r.TrainSet, err = LoadSet(knnDir, knnSplits.Train, size, r.Norm); err != nil {
			return err
		}
		r.ValSet, err = LoadSet(knnDir, knnSplits.Val, size, r.Norm)
		return err
	}
	r.TrainSet = NewSet(size)
	i := 0
	for _, l := range data.Labels {
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

// batches splits the train images into full batches of
// train args.batch_size: an epoch drops its incomplete last batch.
func (r *PretrainRun) batches() batching {
	n, b := len(r.raw), r.Config.Train.BatchSize
	return batching{images: n, perStep: b, iters: n / b}
}

// Close releases the networks and closes the metrics stream.
func (r *PretrainRun) Close() error {
	r.m.close()
	return r.log.close()
}

// loadResumePoint restores the networks and the training state from
// checkpoints/last, and recovers the epochs done and the interrupted
// epoch's running loss. It returns the metrics records to keep.
func (r *PretrainRun) loadResumePoint(ckptDir string, sc ckpt.Sidecar) ([]shared.Metric, error) {
	kept, err := r.resumeFrom(ckptDir, sc, r.batches(), layout.PretrainReportMD)
	if err != nil {
		return nil, err
	}
	st := r.resume.state
	if _, err := ckpt.LoadInto(layout.Run(ckptDir).Path(layout.ModelFile), r.m.evalParams()); err != nil {
		return nil, err
	}
	if err := r.m.restore(st.Extra); err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", ckptDir, err)
	}
	path := layout.Run(ckptDir).Path(historyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ssl: %w", err)
	}
	if err := json.Unmarshal(b, &r.resumedEpochs); err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", path, err)
	}
	for len(r.resumedEpochs) > 0 && r.resumedEpochs[len(r.resumedEpochs)-1].Epoch > st.Epoch {
		r.resumedEpochs = r.resumedEpochs[:len(r.resumedEpochs)-1]
	}
	return kept, nil
}
