package augment

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/sslens/sslens/backend/data"
)

// Views are the augmented views of one image for one method, each a
// normalised (3, S, S) image.
type Views struct {
	// Global holds DINO's and iBOT's 2 global crops, SimSiam's 2 crops, or
	// the single centre crop of MethodNone.
	Global []data.Image
	// Local holds the local crops of DINO and iBOT; empty otherwise.
	Local []data.Image
	// Masks holds one patch mask per global view when masking is enabled
	// (row-major, true = masked, side S / patch size); nil otherwise.
	Masks [][]bool
}

// Pipeline turns an image into the views of one method. Implementations
// are safe for concurrent use with one rng per goroutine.
type Pipeline interface {
	// Apply returns newly allocated views of im. It checks ctx between
	// views and returns its error once ctx is done, so a caller that gave
	// up stops the work.
	Apply(ctx context.Context, im data.Image, rng *rand.Rand) (Views, error)
	// ApplyInto writes the views of im into dst, reusing its images and
	// masks when their shapes already match, so a caller that keeps dst
	// allocates nothing per image.
	ApplyInto(dst *Views, im data.Image, rng *rand.Rand) error
	// Method is the recipe it applies.
	Method() Method
}

// NewPipeline returns the pipeline of cfg's method: centre crop (cfg.CenterCrop)
// of a 3-band image, then per view a RandomResizedCrop, flips, an optional
// quarter turn, colour jitter and Gaussian blur, drawn in that order from
// the caller's rng, and normalisation, the seed's order. DINO and iBOT
// draw a block mask per global view after all views when mask.Enabled;
// other methods ignore mask. MethodNone gives the normalised centre crop alone.
func NewPipeline(cfg Config, mask MaskConfig, norm Normalization) (Pipeline, error) {
	m, err := cfg.Validate()
	if err != nil {
		return nil, fmt.Errorf("augment: %w", err)
	}
	if err := norm.Validate(); err != nil {
		return nil, err
	}
	p := &pipeline{method: m, cfg: cfg, mask: mask, norm: norm}
	p.pool.New = func() any { return new(scratch) }
	p.global, p.local = cfg.views(m)
	if (m == MethodDINO || m == MethodIBOT) && mask.Enabled {
		if err := mask.Validate(cfg.GlobalCropSize); err != nil {
			return nil, fmt.Errorf("augment: %w", err)
		}
		p.grid = cfg.GlobalCropSize / mask.PatchSize
	}
	return p, nil
}

// views returns the global and local views of method m.
func (c Config) views(m Method) (global, local []viewSpec) {
	switch m {
	case MethodNone:
		global = []viewSpec{{size: c.CenterCrop}}
	case MethodSimSiam:
		global = []viewSpec{
			{size: c.CropSize, scale: c.CropScale, blurP: c.BlurP1, augment: true},
			{size: c.CropSize, scale: c.CropScale, blurP: c.BlurP2, augment: true},
		}
	case MethodDINO, MethodIBOT:
		g := viewSpec{size: c.GlobalCropSize, scale: c.GlobalCropScaleRange, augment: true}
		g1, g2 := g, g
		g1.blurP, g2.blurP = c.BlurP1, c.BlurP2
		global = []viewSpec{g1, g2}
		for range c.NumLocalCrops {
			local = append(local, viewSpec{size: c.LocalCropSize, scale: c.LocalCropScaleRange, blurP: c.BlurPLocal, augment: true})
		}
	}
	return global, local
}

// ViewPixels validates c and returns the number of pixels per band of the
// views a pipeline of c draws of one image (the sum of S*S over them), a
// measure of its work known before any is done.
func (c Config) ViewPixels() (int, error) {
	m, err := c.Validate()
	if err != nil {
		return 0, fmt.Errorf("augment: %w", err)
	}
	global, local := c.views(m)
	n := 0
	for _, v := range append(global, local...) {
		n += v.size * v.size
	}
	return n, nil
}

// viewSpec describes one view of a pipeline.
type viewSpec struct {
	size    int        // output side in pixels
	scale   [2]float64 // crop area range, fractions of the centre crop
	blurP   float64    // blur probability
	augment bool       // false: the centre crop as it is
}

type pipeline struct {
	method        Method
	cfg           Config
	mask          MaskConfig
	norm          Normalization
	global, local []viewSpec
	grid          int // mask grid side in patches; 0 without masks
	pool          sync.Pool
}

// scratch is the per-call working memory a pipeline pools.
type scratch struct {
	rs  resampler
	bl  blurrer
	idx []int
}

func (p *pipeline) Apply(ctx context.Context, im data.Image, rng *rand.Rand) (Views, error) {
	var v Views
	err := p.applyInto(ctx, &v, im, rng)
	return v, err
}

func (p *pipeline) Method() Method { return p.method }

func (p *pipeline) ApplyInto(dst *Views, im data.Image, rng *rand.Rand) error {
	return p.applyInto(context.Background(), dst, im, rng)
}

// applyInto is ApplyInto, stopping with ctx's error between views.
func (p *pipeline) applyInto(ctx context.Context, dst *Views, im data.Image, rng *rand.Rand) error {
	if err := checkImage(im); err != nil {
		return err
	}
	if im.C != 3 {
		return fmt.Errorf("augment: want 3 bands (g, r, i), got %d", im.C)
	}
	src, cc := im, p.cfg.CenterCrop
	if im.H != cc || im.W != cc {
		var err error
		if src, err = data.CenterCrop(im, cc, cc); err != nil {
			return fmt.Errorf("augment: center_crop %d: %w", cc, err)
		}
	}
	s := p.pool.Get().(*scratch)
	defer p.pool.Put(s)
	dst.Global = sizeViews(dst.Global, p.global)
	dst.Local = sizeViews(dst.Local, p.local)
	for i, v := range p.global {
		if err := p.view(ctx, dst.Global[i], src, v, s, rng); err != nil {
			return err
		}
	}
	for i, v := range p.local {
		if err := p.view(ctx, dst.Local[i], src, v, s, rng); err != nil {
			return err
		}
	}
	if p.grid == 0 {
		dst.Masks = nil
		return nil
	}
	n := p.grid * p.grid
	if len(dst.Masks) != len(p.global) {
		dst.Masks = make([][]bool, len(p.global))
	}
	for i := range dst.Masks {
		if len(dst.Masks[i]) != n {
			dst.Masks[i] = make([]bool, n)
		}
		m := dst.Masks[i]
		clear(m)
		target := maskCount(n, p.mask.Ratio, p.mask.RatioVar, rng)
		if p.mask.Shape == "rand" {
			s.idx = randMask(m, target, s.idx, rng)
		} else {
			s.idx = blockMask(m, p.grid, p.grid, target, p.mask.Aspect, p.mask.MinBlock, s.idx, rng)
		}
	}
	return nil
}

// view draws one view of the centre crop src into out, unless ctx is done.
func (p *pipeline) view(ctx context.Context, out, src data.Image, v viewSpec, s *scratch, rng *rand.Rand) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("augment: %w", err)
	}
	if !v.augment {
		copy(out.Pix, src.Pix)
		return Normalize(out, p.norm)
	}
	box := CropBox(src.H, src.W, v.scale, rng)
	if err := s.rs.resizedCrop(out, src, box); err != nil {
		return err
	}
	if rng.Float64() < p.cfg.HFlipP {
		HFlip(out)
	}
	if rng.Float64() < p.cfg.VFlipP {
		VFlip(out)
	}
	if p.cfg.Rot90 {
		if err := Rot90(out, rng.IntN(4)); err != nil {
			return err
		}
	}
	if rng.Float64() < p.cfg.JitterP {
		ColorJitter(out, p.cfg.Brightness, p.cfg.Contrast, rng)
	}
	if rng.Float64() < v.blurP {
		lo, hi := p.cfg.BlurSigma[0], p.cfg.BlurSigma[1]
		s.bl.blur(out, lo+(hi-lo)*rng.Float64())
	}
	// Jitter acts on fluxes, before normalising, so a brightness factor
	// scales sources and keeps a zero-flux sky at zero; in normalised units
	// it would move the sky to (1-f)*Mean.
	return Normalize(out, p.norm)
}

// sizeViews returns imgs with one (3, S, S) image per spec, keeping those
// already of the right size.
func sizeViews(imgs []data.Image, specs []viewSpec) []data.Image {
	if len(imgs) != len(specs) {
		imgs = make([]data.Image, len(specs))
	}
	for i, v := range specs {
		if im := imgs[i]; im.C != 3 || im.H != v.size || im.W != v.size || len(im.Pix) != 3*v.size*v.size {
			imgs[i] = data.NewImage(3, v.size, v.size)
		}
	}
	return imgs
}

// SampleRNG returns the generator for one sample's views in one epoch: a
// PCG seeded from the run's seed and a SplitMix64 hash of (epoch, index),
// so every sample and epoch gets an independent, reproducible stream
// whatever order the samples are drawn in.
func SampleRNG(seed uint64, epoch, index int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix64(splitmix64(uint64(epoch))^uint64(index))))
}

// splitmix64 is SplitMix64's output function, a bijective 64-bit mixer.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
