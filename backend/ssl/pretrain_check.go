package ssl

import (
	"errors"
	"fmt"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/memplan"
	"github.com/sslens/sslens/backend/nn/vit"
)

// CheckPretrain checks what a pretraining run of cfg on a backbone of
// preset p needs beyond config.Validate, naming the key path: a method
// that pretrains, heads with at least one layer, iBOT's mask patches the
// backbone's, crops that hold a patch, batches BatchNorm can use, and a
// step that fits train args.max_memory.
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
	_, err := memplan.Pretrain(cfg, p)
	return err
}
