package ops

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
)

// dropout is the train/eval state and random source of an op that drops
// values in training (attention dropout, drop path).
type dropout struct {
	rate float64
	eval bool // the zero value trains, as a fresh PyTorch module does
	rng  *rand.PCG
	seed uint64 // the construction seed
}

// newDropout checks rate and seeds the op's generator.
func newDropout(what string, rate float64, seed uint64) (dropout, error) {
	if !(rate >= 0 && rate < 1) {
		return dropout{}, fmt.Errorf("ops: %s: dropout rate %g outside [0, 1)", what, rate)
	}
	return dropout{rate: rate, rng: rand.NewPCG(seed, 0), seed: seed}, nil
}

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
	for _, n := range g.AllNodes() {
		if d, ok := n.Op().(interface{ dropper() *dropout }); ok {
			d.dropper().SetTraining(on)
		}
	}
}

// Reseed restarts the draws of every dropping op in g on stream: an op's
// masks then depend only on its construction seed and the stream, not on
// how many steps ran before, so a training run resumed at step k can draw
// exactly the masks an uninterrupted run draws at step k.
func Reseed(g *gorgonia.ExprGraph, stream uint64) {
	for _, n := range g.AllNodes() {
		if d, ok := n.Op().(interface{ dropper() *dropout }); ok {
			dd := d.dropper()
			dd.rng.Seed(dd.seed, stream)
		}
	}
}
