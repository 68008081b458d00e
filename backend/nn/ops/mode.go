package ops

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
)

// dropout is the train/eval state and random source of an op that drops
// values in training (attention dropout, drop path). Sample i of a step's
// batch draws from its own PCG stream (stepSeed, i): its masks depend on
// the op's seed, the step and i alone, not on how the batch is split into
// forward passes (micro-batching) nor on how many passes ran before.
type dropout struct {
	rate     float64
	eval     bool   // the zero value trains, as a fresh PyTorch module does
	seed     uint64 // the construction seed
	stepSeed uint64 // this step's, from seed and the Reseed stream
	first    int    // the batch index of the next forward's first sample
}

// newDropout checks rate and seeds the op's draws for stream 0.
func newDropout(what string, rate float64, seed uint64) (dropout, error) {
	if !(rate >= 0 && rate < 1) {
		return dropout{}, fmt.Errorf("ops: %s: dropout rate %g outside [0, 1)", what, rate)
	}
	return dropout{rate: rate, seed: seed, stepSeed: streamSeed(seed, 0)}, nil
}

// streamSeed derives the seed of stream number stream from seed.
func streamSeed(seed, stream uint64) uint64 { return rand.NewPCG(seed, stream).Uint64() }

// active reports whether the next forward drops anything.
func (d *dropout) active() bool { return d.rate > 0 && !d.eval }

// SetTraining turns dropping on (training) or off (evaluation). It
// implements gorgonia.TrainModeOp, which gorgonia.NewTapeMachine calls.
func (d *dropout) SetTraining(on bool) error {
	d.eval = !on
	return nil
}

// SetTraining switches every op of this package in g that drops values
// (Attention's dropout, Residual's drop path) to training (on) or
// evaluation. It leaves other ops alone: Gorgonia's BatchNorm, for one,
// resets its running statistics when set to training. Call it after
// gorgonia.NewTapeMachine, which sets the mode of every op it compiles.
func SetTraining(g *gorgonia.ExprGraph, on bool) {
	eachDropper(g, func(d *dropout) { d.SetTraining(on) })
}

// Reseed sets the draws of every dropping op in g to those of stream (a
// training step's number) and the next forward's first sample to 0: an
// op's masks then depend only on its construction seed, the stream and
// the sample, so a training run resumed at step k draws exactly the masks
// an uninterrupted run draws at step k.
func Reseed(g *gorgonia.ExprGraph, stream uint64) {
	eachDropper(g, func(d *dropout) { d.stepSeed, d.first = streamSeed(d.seed, stream), 0 })
}

// FirstSample tells every dropping op in g that the next forward's first
// sample is sample first of the step's batch: a batch run in parts, each
// part told where it starts, draws the masks of one forward over all of it.
func FirstSample(g *gorgonia.ExprGraph, first int) {
	eachDropper(g, func(d *dropout) { d.first = first })
}

// eachDropper calls f with the dropout state of every dropping op in g.
func eachDropper(g *gorgonia.ExprGraph, f func(*dropout)) {
	for _, n := range g.AllNodes() {
		if d, ok := n.Op().(interface{ dropper() *dropout }); ok {
			f(d.dropper())
		}
	}
}
