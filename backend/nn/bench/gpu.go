package bench

import (
	"fmt"
	"io"
	"runtime"

	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/nn/vit"
)

// runGPU is Run on c.Device: the GPU executor's training steps as the
// training loop takes them (upload the parameters, forward and backward on
// the device, download the gradients, AdamW on the host) or its forward
// passes, each timed to the end of the device's work, with the device
// memory in use after them, then the PyTorch peer on the same GPU.
func runGPU(w io.Writer, c Config) error {
	what := "steps (forward and backward on the device, AdamW on the host)"
	if c.Inference {
		what = "forward passes in evaluation mode (scoring)"
	}
	fmt.Fprintf(w, "device %s, batch %d, median of %d %s after %d warm-up\n", c.Device, c.Batch, c.Steps, what, Warmup)
	peer, err := openPeer(c.Python)
	if err != nil {
		return err
	}
	if peer != nil {
		defer peer.Close()
	}
	for _, p := range c.Presets {
		r, used, err := measureGPU(c.Device, p, c.Batch, c.Steps, c.Inference)
		if err != nil {
			return fmt.Errorf("bench: %s on %s: %w", p.Name, c.Device, err)
		}
		flops := TrainFLOPs(p, c.Batch)
		if c.Inference {
			flops /= 3
		}
		fmt.Fprintf(w, "%s (D %d, depth %d, %d heads): %.2f ms/step  %.1f img/s  %.2f TFLOP/s  device memory in use %.0f MiB\n",
			p.Name, p.Dim, p.Depth, p.Heads, float64(r.Step)/1e6, r.ImagesPerSec(c.Batch), flops/r.Step.Seconds()/1e12, float64(used)/(1<<20))
		if peer == nil {
			continue
		}
		line, rate, err := peer.Run(p, c.Batch, c.Steps, runtime.GOMAXPROCS(0), c.Inference, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s\n  ours / torch: %.2fx images/s\n", line, r.ImagesPerSec(c.Batch)/rate)
	}
	return nil
}

// measureGPU times preset p on dev and returns the device memory in use
// after the timed steps.
func measureGPU(dev gpu.Device, p vit.Preset, batch, steps int, inference bool) (Result, uint64, error) {
	ps, images, labels, err := randomBatch(p, batch)
	if err != nil {
		return Result{}, 0, err
	}
	var step func() error
	if inference {
		m, err := gpu.NewViT(dev, ps, batch) // what score --device runs
		if err != nil {
			return Result{}, 0, err
		}
		defer m.Close()
		step = func() error { _, err := m.Predict(images); return err }
	} else {
		c, err := gpu.NewClassifier(dev, ps, gpu.Options{Batch: batch, Seed: 1})
		if err != nil {
			return Result{}, 0, err
		}
		defer c.Close()
		if step, err = adamWStep(c, images, labels); err != nil {
			return Result{}, 0, err
		}
	}
	r, err := Measure(steps, "", step)
	if err != nil {
		return Result{}, 0, err
	}
	free, total, err := dev.MemInfo()
	if err != nil {
		return Result{}, 0, err
	}
	return r, total - free, nil
}
