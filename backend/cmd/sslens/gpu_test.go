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
// batches, Adam, evaluations, checkpoints, report) with the GPU
// executor's classifier on the host device and again with the CPU
// engine, dropout and drop path off: the two runs must end with the same
// weights to float32 rounding and the same test AUC.
func TestFinetuneOnHostDevice(t *testing.T) {
	runs := make([]string, 2)
	for i, onHost := range []bool{false, true} {
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
		e, _, errOut := fakeEnv()
		e.newModel = newClassifier
		if onHost {
			dev := gputest.NewHostDevice(t, gpu.Source, gpu.KernelNames)
			e.newModel = func(ps *vit.Params, opt modelOptions) (classifier, error) {
				return gpu.NewClassifier(dev, ps, gpu.Options{Batch: opt.Batch, Seed: opt.Seed, FreezeBackbone: opt.FreezeBackbone})
			}
		}
		if err := runFinetune(context.Background(), newFlagSet(commands["finetune"], errOut), []string{cfg}, e); err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
	}
	var params [2]*vit.Params
	var auc [2]float64
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
	var num, den float64
	for j, p := range params[0].List() {
		for k, w := range p.Data {
			d := float64(params[1].List()[j].Data[k]) - float64(w)
			num, den = num+d*d, den+float64(w)*float64(w)
		}
	}
	if e := math.Sqrt(num / den); !(e < 1e-4) {
		t.Errorf("last weights differ by %.2g relative between the CPU engine and the GPU executor", e)
	} else {
		t.Logf("last weights differ by %.2g relative; test AUC %.4f (CPU) and %.4f (GPU executor on the host)", e, auc[0], auc[1])
	}
	if math.Abs(auc[0]-auc[1]) > 1e-3 {
		t.Errorf("test AUC %.4f with the CPU engine, %.4f with the GPU executor", auc[0], auc[1])
	}
}
