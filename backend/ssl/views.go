package ssl

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/nn"
)

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
