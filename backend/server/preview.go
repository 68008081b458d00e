package server

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/render"
	"github.com/sslens/sslens/shared"
)

// Bounds of one preview's work, whatever its config: the pixels per band
// of the views it draws, and the pixels of the PNGs it encodes (original,
// views and masks, after upscaling). The reference DINO config draws 8,448
// view pixels and, at scale 4, encodes about 0.2 Mpx.
const (
	previewMaxViewPixels = 1 << 18 // 262,144, e.g. 2 views of 256 px and 64 of 32 px
	previewMaxPNGPixels  = 1 << 22 // 4 Mpx, 16 MB of RGBA
)

// preview renders the augmented views a method's config makes of one
// dataset image, with the same pipeline training uses. It runs in a render
// slot and stops between views once the client has gone.
func (s *Server) preview(w http.ResponseWriter, r *http.Request, c *Call) error {
	ctx := r.Context()
	var req shared.PreviewRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Scale == 0 {
		req.Scale = 4
	}
	if req.Scale < 1 || req.Scale > 8 {
		return errInvalid("bad scale", shared.FieldError{Key: "scale", Message: "want 1 to 8"})
	}
	cfg, _, err := s.requestConfig(req.Template, req.Config)
	if err != nil {
		return err
	}
	d, err := s.st.Dataset(ctx, req.Dataset)
	if err != nil {
		return err
	}
	dir := s.abs(d.Dir)
	ix, err := s.sets.get(dir)
	if err != nil {
		return errConflict("dataset %d cannot be read: %v", d.ID, err)
	}
	if _, ok := ix.byID[req.Image]; !ok {
		return errInvalid("unknown image", shared.FieldError{Key: "image", Message: "dataset " + d.Name + " has no image " + req.Image})
	}
	// Supervised configs carry an augmentation section config.Parse does
	// not check: it is checked here, before anything is counted or drawn.
	n, err := cfg.Augmentation.ViewPixels()
	if err != nil {
		return errInvalid("the augmentation settings are invalid", configFields(err)...)
	}
	if err := checkPreviewWork(n, cfg.Network.MaskConfig.Enabled, req.Scale); err != nil {
		return err
	}
	// The slot also covers the dataset's statistics, computed again when a
	// config asks for a crop they were not computed at.
	release, err := s.renders.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	// Normalise as training on this dataset would; views are shown in
	// flux units again, so this only matters through colour jitter.
	norm := augment.SeedNormalization()
	if p := data.SplitsFile(dir); p != "" {
		if sp, err := data.ReadSplits(p); err == nil {
			if st, err := data.LoadStats(dir, sp, cfg.Input.ImageSize[0]); err == nil {
				for b := range 3 {
					norm.Mean[b], norm.Std[b] = float32(st.Mean[b]), float32(st.Std[b])
				}
			}
		}
	}
	pipe, err := augment.NewPipeline(cfg.Augmentation, cfg.Network.MaskConfig, norm)
	if err != nil {
		return errInvalid("the augmentation settings are invalid", configFields(err)...)
	}
	im, err := data.ReadImage(filepath.Join(dir, filepath.FromSlash(req.Image)), data.ReadOptions{ReplaceNonFinite: true})
	if err != nil {
		return errConflict("%v", err)
	}
	views, err := pipe.Apply(ctx, im, augment.SampleRNG(req.Seed, 0, 0))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errConflict("%v", err)
	}
	out := shared.PreviewResponse{Method: string(pipe.Method()), Seed: req.Seed, Warnings: previewWarnings(cfg.Warnings)}
	// The original is as large as the dataset's images: it is upscaled less
	// when that keeps it within render.MaxSide.
	orig := render.Lupton(im, render.DefaultLupton())
	if out.Original, err = encodePNG(render.Upscale(orig, render.FitScale(im.H, im.W, req.Scale))); err != nil {
		return err
	}
	add := func(kind string, i int, v data.Image, mask []bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := augment.Denormalize(v, norm); err != nil {
			return err
		}
		rgb := render.Lupton(v, render.DefaultLupton())
		pv := shared.PreviewView{Kind: kind, Index: i, Size: v.H}
		var err error
		if pv.PNG, err = encodePNG(render.Upscale(rgb, req.Scale)); err != nil {
			return err
		}
		if mask != nil {
			side := isqrt(len(mask))
			pv.Mask, pv.MaskSide = mask, side
			if pv.MaskPNG, err = encodePNG(render.Upscale(shadeMask(rgb, mask, side), req.Scale)); err != nil {
				return err
			}
		}
		out.Views = append(out.Views, pv)
		return nil
	}
	for i, v := range views.Global {
		var mask []bool
		if i < len(views.Masks) {
			mask = views.Masks[i]
		}
		if err := add("global", i, v, mask); err != nil {
			return err
		}
	}
	for i, v := range views.Local {
		if err := add("local", i, v, nil); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkPreviewWork refuses a preview whose views (n pixels a band), or
// their PNGs at scale (masks counted as a second PNG of every view),
// exceed the preview's bounds, before any of it is drawn. The original
// picture is bounded apart, by render.MaxSide.
func checkPreviewWork(n int, masks bool, scale int) error {
	if n > previewMaxViewPixels {
		return errInvalid("the preview is too large", shared.FieldError{Key: "ssl augmentation kwargs",
			Message: fmt.Sprintf("the views draw %d pixels a band, more than the %d a preview may; use fewer or smaller crops", n, previewMaxViewPixels)})
	}
	if masks {
		n *= 2
	}
	if png := n * scale * scale; png > previewMaxPNGPixels {
		return errInvalid("the preview is too large", shared.FieldError{Key: "scale",
			Message: fmt.Sprintf("at scale %d the views make %d PNG pixels, more than the %d a preview may; lower the scale", scale, png, previewMaxPNGPixels)})
	}
	return nil
}

// shadeMask darkens the masked patches of a side x side grid over img and
// tints them, so a masked patch reads at a glance.
func shadeMask(img *image.RGBA, mask []bool, side int) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	if side == 0 {
		return out
	}
	ph, pw := img.Bounds().Dy()/side, img.Bounds().Dx()/side
	tint := color.RGBA{R: 40, G: 90, B: 200, A: 255}
	for k, m := range mask {
		if !m {
			continue
		}
		y0, x0 := (k/side)*ph, (k%side)*pw
		for y := y0; y < y0+ph; y++ {
			for x := x0; x < x0+pw; x++ {
				p := out.RGBAAt(x, y)
				out.SetRGBA(x, y, color.RGBA{R: (p.R + tint.R) / 3, G: (p.G + tint.G) / 3, B: (p.B + tint.B) / 2, A: 255})
			}
		}
	}
	return out
}

func isqrt(n int) int {
	r := 0
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	err := png.Encode(&buf, img)
	return buf.Bytes(), err
}

// requestConfig parses the config a request names, a template or YAML
// text (exactly one of them), and returns it with its text. Invalid
// configs are a 422 with the key.
func (s *Server) requestConfig(template, text string) (*config.Config, string, error) {
	switch {
	case template != "" && text != "":
		return nil, "", errInvalid("give a template or a config, not both", shared.FieldError{Key: "template", Message: "set only one of template and config"})
	case template != "":
		t, err := s.template(template)
		if err != nil {
			return nil, "", err
		}
		text = t.YAML
	case text == "":
		return nil, "", errInvalid("no config", shared.FieldError{Key: "config", Message: "give a template name or config YAML"})
	}
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		return nil, "", errInvalid("the config is invalid", configFields(err)...)
	}
	return cfg, text, nil
}

// previewWarnings keeps the config warnings about what a preview shows,
// the augmentation and iBOT's masks: an astronomer previewing crops has no
// use for training settings such as the device.
func previewWarnings(all []string) []string {
	var out []string
	for _, w := range all {
		if strings.HasPrefix(w, "ssl augmentation kwargs") || strings.HasPrefix(w, "network.") {
			out = append(out, w)
		}
	}
	return out
}
