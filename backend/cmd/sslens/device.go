package main

import (
	"flag"
	"fmt"

	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl"
)

// deviceUsage is the --device flag's help, shared by eval, score and embed.
const deviceUsage = "compute on `cpu`, cuda (GPU 0) or cuda:N"

// inference is what eval, score and embed run images through.
type inference interface {
	ssl.Predictor
	ssl.Featurer
	Close()
}

// gpuBatch is the images per forward pass on a GPU when the command does
// not set one: ssl hands a model at most this many per call.
const gpuBatch = 256

// gpuScoreBatch is score --out's --batch on a GPU when not given: the
// CPU's 64 would leave the device waiting on each call's round trip.
const gpuScoreBatch = 1024

// scoreBatch is score's images per model call: --batch as given, else
// gpuScoreBatch on a GPU and the flag's default on the CPU.
func scoreBatch(fs *flag.FlagSet, device string, batch int) int {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "batch" })
	if spec, err := gpu.ParseDevice(device); err == nil && spec.CUDA && !given {
		return gpuScoreBatch
	}
	return batch
}

// inferenceModel builds the model eval, score and embed run on device:
// backend/nn's classifier on the CPU, the GPU executor on cuda[:N] (float32
// GEMMs, no TF32, so scores match the CPU's to float32 rounding). batch 0
// takes each device's default.
func (e env) inferenceModel(ps *vit.Params, device string, batch int) (inference, error) {
	spec, err := gpu.ParseDevice(device)
	if err != nil {
		return nil, fmt.Errorf("--device: %w", err)
	}
	if !spec.CUDA {
		if batch == 0 {
			batch = inferenceOptions.Batch
		}
		return e.newModel(ps, modelOptions{Batch: batch})
	}
	if batch == 0 {
		batch = gpuBatch
	}
	dev, err := gpu.Open(spec, false)
	if err != nil {
		return nil, err
	}
	m, err := gpu.NewViT(dev, ps, batch)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return gpuModel{m, dev}, nil
}

// newGPUClassifier opens the GPU spec names and builds a training
// classifier on it, which owns the device. A batch whose step does not fit
// the device's free memory runs in halves, or quarters, ... (the chunks'
// gradients add up to the batch's).
func newGPUClassifier(ps *vit.Params, spec gpu.Spec, opt gpu.Options) (classifier, error) {
	dev, err := gpu.Open(spec, false)
	if err != nil {
		return nil, err
	}
	opt.Batch = gpu.FitBatch(dev, ps, opt.Batch)
	c, err := gpu.NewClassifier(dev, ps, opt)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return gpuClassifier{c, dev}, nil
}

// gpuClassifier is a training classifier on the device it owns.
type gpuClassifier struct {
	*gpu.Classifier
	dev gpu.Device
}

func (g gpuClassifier) Close() {
	g.Classifier.Close()
	g.dev.Close()
}

// gpuModel is a ViT on the device it owns.
type gpuModel struct {
	*gpu.ViT
	dev gpu.Device
}

func (g gpuModel) Close() {
	g.ViT.Close()
	g.dev.Close()
}

// registerDevice adds --device to fs.
func registerDevice(fs *flag.FlagSet) *string { return fs.String("device", "cpu", deviceUsage) }

// checkDevice refuses, before any work starts, a --device value that is
// misspelt or, when the work runs here (local), names a GPU this machine
// does not have. Slurm jobs check on the node they land on.
func checkDevice(device string, local bool) error {
	spec, err := gpu.ParseDevice(device)
	if err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if !spec.CUDA || !local {
		return nil
	}
	devs, err := gpu.Available()
	if err != nil {
		return fmt.Errorf("device %s: %w", spec, err)
	}
	if spec.Index >= len(devs) {
		return fmt.Errorf("device %s: this machine has %d GPUs (cuda:0 to cuda:%d)", spec, len(devs), len(devs)-1)
	}
	return nil
}
