package augment

import (
	"errors"
	"strings"
	"testing"

	"github.com/sslens/sslens/shared"
)

// Settings beyond their upper bounds are refused with the key they came
// from: 150,000 local crops once kept a core busy for 95 s in a preview.
func TestConfigUpperBounds(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		key    string
		reason string
	}{
		{"local crops", func(c *Config) { c.NumLocalCrops = 150_000 }, "num_local_crops", "150000 is not within [0, 64]"},
		{"centre crop", func(c *Config) { c.CenterCrop = 4700 }, "center_crop", "4700 is not within [1, 1024]"},
		{"blur sigma", func(c *Config) { c.CenterCrop, c.BlurSigma = 1024, [2]float64{1, 500} }, "gaussian_blur_sigma", "within [0, 32] px"},
		{"brightness", func(c *Config) { c.Brightness = 1e300 }, "brightness_jitter", "not within [0, 10]"},
		{"contrast", func(c *Config) { c.Contrast = 11 }, "contrast_jitter", "not within [0, 10]"},
	}
	for _, tt := range tests {
		c := DefaultConfig(MethodDINO)
		tt.edit(&c)
		_, err := c.Validate()
		var fe shared.FieldError
		if !errors.As(err, &fe) || fe.Key != augSection+"."+tt.key || !strings.Contains(fe.Message, tt.reason) {
			t.Errorf("%s: error %v, want a field error on %s saying %q", tt.name, err, tt.key, tt.reason)
		}
	}
	c := DefaultConfig(MethodDINO)
	c.NumLocalCrops, c.BlurSigma, c.Brightness = MaxLocalCrops, [2]float64{0, 32}, MaxJitter
	if _, err := c.Validate(); err != nil {
		t.Errorf("the largest allowed settings: %v", err)
	}
}
