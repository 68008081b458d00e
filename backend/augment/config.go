package augment

import (
	"fmt"
	"math"
	"strings"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/shared"
)

// Method names a view recipe.
type Method string

const (
	MethodDINO    Method = "dino"    // 2 global + N local crops
	MethodIBOT    Method = "ibot"    // DINO's crops plus a block mask per global view
	MethodSimSiam Method = "simsiam" // 2 crops of one size
	MethodNone    Method = "none"    // centre crop only, for evaluation
)

// ParseMethod maps the seed's augmentation class names
// (AugmentationDINOSingleChannel, AugmentationSIMSIAM) and the plain names
// dino, ibot, simsiam, none (or eval) to a Method, ignoring case as the seed does.
func ParseMethod(name string) (Method, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "augmentationdinosinglechannel", "dino":
		return MethodDINO, nil
	case "ibot":
		return MethodIBOT, nil
	case "augmentationsimsiam", "simsiam":
		return MethodSimSiam, nil
	case "none", "eval":
		return MethodNone, nil
	}
	return "", fmt.Errorf("unknown augmentation %q (want AugmentationDINOSingleChannel, AugmentationSIMSIAM, dino, ibot, simsiam or none)", name)
}

// Upper bounds of the settings, so that no config, whoever sends it, makes
// one image's views cost more than a bounded amount of memory and time.
const (
	// MaxLocalCrops bounds num_local_crops; the reference configs use 8 to 16.
	MaxLocalCrops = 64
	// MaxBlurSigma bounds gaussian_blur_sigma, in pixels: its kernel is
	// 8 sigma + 1 taps, and a wider one only turns a cutout into its mean.
	MaxBlurSigma = 32
	// MaxJitter bounds brightness_jitter and contrast_jitter (factors up to
	// 1 + MaxJitter).
	MaxJitter = 10
)

// Section names in a config file, for error messages; backend/config reads
// the files.
const (
	augSection = "ssl augmentation kwargs"
	netSection = "network"
)

// Config is the seed config's `ssl augmentation kwargs` section. The first
// nine keys are the seed's; the rest are optional keys named after the
// keyword arguments the seed's augmentation classes read, so a seed config
// that sets them means the same thing here. Sizes are in pixels, scales are
// fractions of the centre crop's area, probabilities are per view.
type Config struct {
	Augmentation string `yaml:"augmentation"` // seed class name or plain method name, see ParseMethod
	CenterCrop   int    `yaml:"center_crop"`

	// DINO and iBOT.
	GlobalCropScaleRange [2]float64 `yaml:"global_crop_scale_range"`
	GlobalCropSize       int        `yaml:"global_crop_size"`
	LocalCropScaleRange  [2]float64 `yaml:"local_crop_scale_range"`
	LocalCropSize        int        `yaml:"local_crop_size"`
	NumLocalCrops        int        `yaml:"num_local_crops"`

	// SimSiam. The seed read crop_scale under another name and so always
	// used its default (0.12, 1); here it is honoured.
	CropScale [2]float64 `yaml:"crop_scale"`
	CropSize  int        `yaml:"crop_size"`

	HFlipP float64 `yaml:"horizontal_flip_probability"`
	// VFlipP defaults to the seed's behaviour: it flipped vertically with the
	// horizontal probability.
	VFlipP float64 `yaml:"vertical_flip_probability"`
	// Rot90 adds a uniform random quarter turn per view; off by default for
	// seed parity, though lensing has no preferred orientation.
	Rot90 bool `yaml:"rot90"`

	// Colour jitter of the fluxes, applied with probability JitterP:
	// factors uniform in [max(0, 1-x), 1+x], never clamped (the seed
	// clamped to [0, 1], which fluxes are not confined to).
	Brightness float64 `yaml:"brightness_jitter"`
	Contrast   float64 `yaml:"contrast_jitter"`
	JitterP    float64 `yaml:"color_jitter_probability"`

	// Gaussian blur: sigma uniform in BlurSigma (pixels), applied with a
	// per-view probability. SimSiam's two views use the two global ones.
	BlurSigma  [2]float64 `yaml:"gaussian_blur_sigma"`
	BlurP1     float64    `yaml:"gaussian_blur_probability_global_1"`
	BlurP2     float64    `yaml:"gaussian_blur_probability_global_2"`
	BlurPLocal float64    `yaml:"gaussian_blur_probability_local"`
}

// DefaultConfig returns the settings a config gets for the keys it leaves
// out: the seed configs' crops for 32 px cutouts and the seed's
// augmentation classes (AugmentationDINOSingleChannel, AugmentationSIMSIAM):
// flips, blur probabilities (1.0 / 0.3 / 0.5 for DINO, 0.5 for both SimSiam
// views), colour jitter (0.8, 0.8, p 0.1) and blur sigma range (0.01, 4.0)
// px. The seed passed that range to torchvision's gaussian_blur as
// (sigma_x, sigma_y), blurring along y only with a 7-tap kernel; sslens
// draws one isotropic sigma from it per view, as the range means.
func DefaultConfig(m Method) Config {
	c := Config{
		Augmentation: string(m),
		CenterCrop:   32,
		HFlipP:       0.5,
		VFlipP:       0.5,
		Brightness:   0.8,
		Contrast:     0.8,
		JitterP:      0.1,
		BlurSigma:    [2]float64{0.01, 4.0},
	}
	switch m {
	case MethodDINO, MethodIBOT:
		c.GlobalCropScaleRange = [2]float64{0.14, 1}
		c.GlobalCropSize = 32
		c.LocalCropScaleRange = [2]float64{0.01, 0.14}
		c.LocalCropSize = 20
		c.NumLocalCrops = 8
		c.BlurP1, c.BlurP2, c.BlurPLocal = 1.0, 0.3, 0.5
	case MethodSimSiam:
		c.CropScale = [2]float64{0.14, 1}
		c.CropSize = 32
		c.BlurP1, c.BlurP2 = 0.5, 0.5
	}
	return c
}

// Method returns the recipe named by c.Augmentation.
func (c Config) Method() (Method, error) { return ParseMethod(c.Augmentation) }

// Validate checks the keys c's method uses and returns the method, so
// that a caller need not parse it again; errors name the key path.
func (c Config) Validate() (Method, error) {
	m, err := c.Method()
	if err != nil {
		return "", shared.FieldErrorf(augSection+".augmentation", "%v", err)
	}
	if err := c.check(m); err != nil {
		return "", err
	}
	return m, nil
}

// check checks the keys method m uses.
func (c Config) check(m Method) error {
	if c.CenterCrop <= 0 || c.CenterCrop > data.MaxSide {
		return shared.FieldErrorf(augSection+".center_crop", "%d is not within [1, %d] px, the largest cutout read", c.CenterCrop, data.MaxSide)
	}
	crop := func(key string, size int, scale [2]float64, scaleKey string) error {
		switch {
		case size <= 0:
			return shared.FieldErrorf(augSection+"."+key, "%d is not positive", size)
		case size > c.CenterCrop:
			return shared.FieldErrorf(augSection+"."+key, "%d is larger than center_crop %d", size, c.CenterCrop)
		case !(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1):
			return shared.FieldErrorf(augSection+"."+scaleKey, "%v is not a range within (0, 1]", scale)
		}
		return nil
	}
	switch m {
	case MethodNone:
		return nil
	case MethodDINO, MethodIBOT:
		if err := crop("global_crop_size", c.GlobalCropSize, c.GlobalCropScaleRange, "global_crop_scale_range"); err != nil {
			return err
		}
		if err := crop("local_crop_size", c.LocalCropSize, c.LocalCropScaleRange, "local_crop_scale_range"); err != nil {
			return err
		}
		if c.NumLocalCrops < 0 || c.NumLocalCrops > MaxLocalCrops {
			return shared.FieldErrorf(augSection+".num_local_crops", "%d is not within [0, %d]", c.NumLocalCrops, MaxLocalCrops)
		}
	case MethodSimSiam:
		if err := crop("crop_size", c.CropSize, c.CropScale, "crop_scale"); err != nil {
			return err
		}
	}
	for _, p := range []struct {
		key string
		v   float64
	}{
		{"horizontal_flip_probability", c.HFlipP},
		{"vertical_flip_probability", c.VFlipP},
		{"color_jitter_probability", c.JitterP},
		{"gaussian_blur_probability_global_1", c.BlurP1},
		{"gaussian_blur_probability_global_2", c.BlurP2},
		{"gaussian_blur_probability_local", c.BlurPLocal},
	} {
		if !(p.v >= 0 && p.v <= 1) {
			return shared.FieldErrorf(augSection+"."+p.key, "%v is not a probability", p.v)
		}
	}
	if !(c.Brightness >= 0 && c.Brightness <= MaxJitter) {
		return shared.FieldErrorf(augSection+".brightness_jitter", "%v is not within [0, %d]", c.Brightness, MaxJitter)
	}
	if !(c.Contrast >= 0 && c.Contrast <= MaxJitter) {
		return shared.FieldErrorf(augSection+".contrast_jitter", "%v is not within [0, %d]", c.Contrast, MaxJitter)
	}
	// A sigma beyond the crop size only turns the view into its mean.
	if s, top := c.BlurSigma, min(c.CenterCrop, MaxBlurSigma); !(s[0] >= 0 && s[0] <= s[1] && s[1] <= float64(top)) {
		return shared.FieldErrorf(augSection+".gaussian_blur_sigma", "%v is not a range within [0, %d] px (center_crop %d, at most %d)", s, top, c.CenterCrop, MaxBlurSigma)
	}
	return nil
}

// MaskConfig holds iBOT's masking keys from the seed config's `network`
// section, plus sslens's pred_min_block.
type MaskConfig struct {
	// Enabled is true for iBOT unless network.masked_im_modeling is false.
	Enabled   bool `yaml:"masked_im_modeling"`
	PatchSize int  `yaml:"patch_size"` // pixels per patch side
	// The fraction of patches masked per view is uniform in
	// [Ratio - RatioVar, Ratio + RatioVar].
	Ratio    float64    `yaml:"pred_ratio"`
	RatioVar float64    `yaml:"pred_ratio_var"`
	Aspect   [2]float64 `yaml:"pred_aspect_ratio"` // block height / width range, sampled log-uniformly
	Shape    string     `yaml:"pred_shape"`        // "block" or "rand"
	// MinBlock is the smallest block area in patches; 0 picks iBOT's rule,
	// (min(grid h, grid w) / 3)^2 and at least 1, which is 1 on a 4x4 grid.
	MinBlock int `yaml:"pred_min_block"`
	// StartEpoch is the first epoch that masks; the training loop applies it.
	StartEpoch int `yaml:"pred_start_epoch"`
}

// DefaultMaskConfig returns iBOT's masking settings for 8 px patches,
// enabled only for MethodIBOT.
func DefaultMaskConfig(m Method) MaskConfig {
	return MaskConfig{
		Enabled:   m == MethodIBOT,
		PatchSize: 8,
		Ratio:     0.3,
		Aspect:    [2]float64{0.3, 1 / 0.3},
		Shape:     "block",
	}
}

// Validate checks mc for global views of globalSize pixels.
func (mc MaskConfig) Validate(globalSize int) error {
	switch {
	case mc.PatchSize <= 0 || mc.PatchSize > globalSize:
		return shared.FieldErrorf(netSection+".patch_size", "%d is not within [1, global_crop_size %d]", mc.PatchSize, globalSize)
	case !(mc.RatioVar >= 0):
		return shared.FieldErrorf(netSection+".pred_ratio_var", "%v is negative", mc.RatioVar)
	case !(mc.Ratio-mc.RatioVar >= 0 && mc.Ratio+mc.RatioVar <= 1):
		return shared.FieldErrorf(netSection+".pred_ratio", "%v +- pred_ratio_var %v leaves [0, 1]", mc.Ratio, mc.RatioVar)
	case !(mc.Aspect[0] > 0 && mc.Aspect[0] <= mc.Aspect[1] && mc.Aspect[1] < math.Inf(1)):
		return shared.FieldErrorf(netSection+".pred_aspect_ratio", "%v is not a positive range", mc.Aspect)
	case mc.Shape != "block" && mc.Shape != "rand":
		return shared.FieldErrorf(netSection+".pred_shape", "%q is not block or rand", mc.Shape)
	case mc.MinBlock < 0:
		return shared.FieldErrorf(netSection+".pred_min_block", "%d is negative", mc.MinBlock)
	case mc.StartEpoch < 0:
		return shared.FieldErrorf(netSection+".pred_start_epoch", "%d is negative", mc.StartEpoch)
	}
	return nil
}
