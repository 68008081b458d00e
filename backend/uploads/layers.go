package uploads

import (
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/data"
)

// Display layers a cutout combined from single-band survey files keeps
// beside its bands, each a (3, H, W) float32 .npy in g, r, i order next to
// the content file: what the survey's MASK blanked, and the noise its
// VARIANCE gives. Scoring never reads them.
const (
	LayerMask  = "mask"  // 1 where the band's MASK flagged the pixel (set to 0), else 0
	LayerSigma = "sigma" // the square root of VARIANCE: each pixel's noise, flux units
)

// Layers lists the layers in the order the portal offers them.
var Layers = []string{LayerMask, LayerSigma}

// LayerPath is layer's file beside the content file path:
// "<sha>.npy" -> "<sha>.mask.npy".
func LayerPath(content, layer string) string {
	return strings.TrimSuffix(content, filepath.Ext(content)) + "." + layer + ".npy"
}

// LayersOf lists the layers kept beside the content file path.
func LayersOf(content string) []string {
	var out []string
	for _, l := range Layers {
		if _, err := os.Stat(LayerPath(content, l)); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// writeLayers keeps meta's mask and noise beside the content file path,
// when meta has them.
func writeLayers(content string, meta data.Meta) error {
	if meta.Masked.C > 0 {
		if err := writeOnce(LayerPath(content, LayerMask), data.EncodeNPY(meta.Masked)); err != nil {
			return err
		}
	}
	if meta.Variance.C > 0 {
		sigma := data.NewImage(meta.Variance.C, meta.Variance.H, meta.Variance.W)
		for i, v := range meta.Variance.Pix {
			sigma.Pix[i] = float32(math.Sqrt(max(float64(v), 0)))
		}
		if err := writeOnce(LayerPath(content, LayerSigma), data.EncodeNPY(sigma)); err != nil {
			return err
		}
	}
	return nil
}
