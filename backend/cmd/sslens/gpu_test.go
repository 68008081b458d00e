package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/gpu/gputest"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl"
)

// TestFinetuneOnHostDevice runs the whole training command (data,
// batches, the optimiser, evaluations, checkpoints, report) with the GPU
// executor's classifier and optimiser on the host device, and again with
// the CPU engine, dropout and drop path off: the two runs must end with
// the same weights to float32 rounding and the same test AUC. A third run
// on the host device stops after 4 of its 9 steps and resumes from
// checkpoints/last (parameters and optimiser state back onto the device):
// it must end where the uninterrupted one did.
func TestFinetuneOnHostDevice(t *testing.T) {
	dev := gputest.NewHostDevice(t, gpu.Source, gpu.KernelNames)
	onDevice := func(ps *vit.Params, opt modelOptions) (classifier, error) {
		return gpu.NewClassifier(dev, ps, gpu.Options{Batch: opt.Batch, Seed: opt.Seed, FreezeBackbone: opt.FreezeBackbone})
	}
	finetune := func(newModel func(*vit.Params, modelOptions) (classifier, error), args ...string) {
		t.Helper()
		e, _, errOut := fakeEnv()
		e.newModel = newModel
		if err := runFinetune(context.Background(), newFlagSet(commands["finetune"], errOut), args, e); err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
	}
	runs := make([]string, 3)
	for i := range runs {
		runs[i] = filepath.Join(t.TempDir(), "run")
		cfg, _ := classifierData(t, runs[i])
		// SGD: Adam divides by the root of tiny second moments, so it
		// magnifies rounding in near-zero gradients into whole steps.
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "optimizer: Adam", "optimizer: SGD", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			finetune(newClassifier, cfg)
		case 1:
			finetune(onDevice, cfg)
		case 2:
			finetune(onDevice, cfg, "--max-steps", "4")
			finetune(onDevice, "--resume", runs[i])
		}
	}
	params := make([]*vit.Params, len(runs))
	auc := make([]float64, len(runs))
	for i, run := range runs {
		ck, err := ssl.LoadCheckpoint(filepath.Join(run, "checkpoints", "last"))
		if err != nil {
			t.Fatal(err)
		}
		params[i] = ck.Params
		rep, err := layout.Run(run).ReadReport()
		if err != nil {
			t.Fatal(err)
		}
		auc[i] = rep.Last.Test.AUC
	}
	differ := func(a, b *vit.Params) float64 {
		var num, den float64
		for j, p := range a.List() {
			for k, w := range p.Data {
				d := float64(b.List()[j].Data[k]) - float64(w)
				num, den = num+d*d, den+float64(w)*float64(w)
			}
		}
		return math.Sqrt(num / den)
	}
	if e := differ(params[0], params[1]); !(e < 1e-4) {
		t.Errorf("last weights differ by %.2g relative between the CPU engine and the GPU executor", e)
	}
	if e := differ(params[1], params[2]); !(e < 1e-6) {
		t.Errorf("the resumed run's last weights differ by %.2g relative from the uninterrupted run's", e)
	}
	if math.Abs(auc[0]-auc[1]) > 1e-3 || auc[1] != auc[2] {
		t.Errorf("test AUC %.4f with the CPU engine, %.4f with the GPU executor, %.4f resumed", auc[0], auc[1], auc[2])
	}
	t.Logf("last weights: GPU executor vs CPU %.2g relative, resumed vs uninterrupted %.2g; test AUC %.4f / %.4f / %.4f",
		differ(params[0], params[1]), differ(params[1], params[2]), auc[0], auc[1], auc[2])
}
