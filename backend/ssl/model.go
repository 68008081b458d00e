package ssl

import (
	"fmt"

	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Predictor scores images: P(lens) per image, in evaluation mode.
type Predictor interface {
	Predict(images []float32) ([]float64, error)
}

// Featurer embeds images: the class token after the final norm, one
// vector per image, in evaluation mode.
type Featurer interface {
	Features(images []float32) ([][]float32, error)
}

// Model is a lens classifier a run trains: a ViT backbone with a linear
// two-class head (backend/nn's Classifier in production).
type Model interface {
	Predictor
	Featurer
	// TrainStep runs forward and backward in training mode on a batch of
	// any size, leaves the gradients of the mean cross-entropy in the Vars'
	// Grad buffers (overwriting them) and returns the loss and P(lens).
	TrainStep(images []float32, labels []int) (loss float64, lensProb []float64, err error)
	// Reseed makes the next TrainStep draw the dropout masks of training
	// step number step, so a resumed run repeats an uninterrupted one.
	Reseed(step uint64)
	// Vars returns the trainable parameters (the head only when the
	// backbone is frozen), named as in vit.Params. Their Data is what the
	// model computes with: the optimiser updates it in place.
	Vars() []optim.Var
}

// deviceTrainer is a Model whose parameters and optimiser live on a device
// (backend/gpu's Classifier): the loop steps the optimiser the model makes,
// which clips the gradient itself, instead of a host one, and moves the
// parameters to the host before a checkpoint (PullParams, into the Vars'
// Data) and back after setting other weights there (PushParams).
type deviceTrainer interface {
	NewOptimizer(name string, decayAll bool, clip float64) (optim.Optimizer, error)
	PullParams() error
	PushParams() error
}

// syncParams copies the model's trainable values into ps, the full
// parameter set checkpoints are written from. A model may share ps's
// storage or keep its own copies; either way ps ends up current. Frozen
// parameters are not in vars and never change, so ps already holds them.
func syncParams(ps *vit.Params, vars []optim.Var) error {
	for _, v := range vars {
		p := ps.Get(v.Name)
		if p == nil || len(p.Data) != len(v.Data) {
			return fmt.Errorf("ssl: model parameter %q (%d values) is not in the checkpoint's parameter set", v.Name, len(v.Data))
		}
		copy(p.Data, v.Data)
	}
	return nil
}

// setVars copies tensors into the model's trainable parameters by name,
// e.g. to evaluate the best epoch's weights; every var must be present
// with its length.
func setVars(vars []optim.Var, tensors []ckpt.Tensor, from string) error {
	byName := make(map[string][]float32, len(tensors))
	for _, t := range tensors {
		byName[t.Name] = t.Data
	}
	for _, v := range vars {
		d, ok := byName[v.Name]
		if !ok || len(d) != len(v.Data) {
			return fmt.Errorf("ssl: %s has no tensor %q of %d values", from, v.Name, len(v.Data))
		}
	}
	for _, v := range vars {
		copy(v.Data, byName[v.Name])
	}
	return nil
}
