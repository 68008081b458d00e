package server

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/draw"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/render"
	"github.com/sslens/sslens/shared"
)

// pngParams are the rendering choices of a PNG route.
type pngParams struct {
	band    string // rgb, g, r, i
	stretch render.Stretch
	lupton  render.LuptonParams // the asinh composite's Q and stretch (q, soft)
	scale   int                 // asked for; the picture stays within render.MaxSide a side
	crop    int
}

// maxPNGScale bounds the upscaling asked for: a 32 px crop to 512 px.
const maxPNGScale = 16

func parsePNGParams(r *http.Request) (pngParams, error) {
	q := r.URL.Query()
	p := pngParams{band: cmp.Or(q.Get("band"), "rgb")}
	if !slices.Contains([]string{"rgb", "g", "r", "i"}, p.band) {
		return p, errBadRequest("band=%q: want rgb, g, r or i", p.band)
	}
	st, err := render.ParseStretch(cmp.Or(q.Get("stretch"), "asinh"))
	if err != nil {
		return p, errBadRequest("stretch=%q: want one of %s", q.Get("stretch"), strings.Join(shared.Stretches, ", "))
	}
	p.stretch = st
	p.lupton = render.DefaultLupton()
	if p.lupton.Q, err = queryFloat(r, "q", p.lupton.Q, 0.1, 100); err != nil {
		return p, err
	}
	if p.lupton.Stretch, err = queryFloat(r, "soft", p.lupton.Stretch, 0.001, 1000); err != nil {
		return p, err
	}
	if p.scale, err = queryInt(r, "scale", 1, 1, maxPNGScale); err != nil {
		return p, err
	}
	if p.crop, err = queryInt(r, "crop", 0, 0, data.MaxSide); err != nil {
		return p, err
	}
	return p, nil
}

// servePNG renders the image file b (named name) as the query asks,
// through a cache keyed by a hash of its content and the parameters.
// Renders run in a render slot.
func (s *Server) servePNG(w http.ResponseWriter, r *http.Request, name string, b []byte) error {
	return s.servePNGOf(w, r, [][]byte{b}, func(p pngParams) ([]byte, error) { return renderPNG(name, b, p) })
}

// servePNGOf serves what render draws from the files contents as the
// query asks, through the cache (keyed by the contents and the query).
func (s *Server) servePNGOf(w http.ResponseWriter, r *http.Request, contents [][]byte, render func(pngParams) ([]byte, error)) error {
	p, err := parsePNGParams(r)
	if err != nil {
		return err
	}
	h := sha256.New()
	for _, b := range contents {
		fmt.Fprintf(h, "%d|", len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "|%s|%s|%d|%d|%g|%g", p.band, p.stretch, p.scale, p.crop, p.lupton.Q, p.lupton.Stretch)
	key := hex.EncodeToString(h.Sum(nil))[:40]
	etag := `"` + key + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, max-age=86400")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	out, ok := s.pngs.get(key)
	if !ok {
		release, err := s.renders.acquire(r.Context())
		if err != nil {
			return err
		}
		out, err = render(p)
		release()
		if err != nil {
			return err
		}
		if err := s.pngs.put(key, out); err != nil {
			s.log.Warn("server: PNG cache", "err", err)
		}
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	w.Write(out)
	return nil
}

// renderPNG decodes the image file b (named name) and encodes it as PNG
// as p asks.
func renderPNG(name string, b []byte, p pngParams) ([]byte, error) {
	im, err := data.DecodeImage(name, b, data.ReadOptions{Crop: p.crop, ReplaceNonFinite: true})
	if err != nil {
		return nil, errConflict("%v", err)
	}
	return encodePNG(renderImage(im, p))
}

// renderMaskedPNG draws the cutout b (named name) as p asks with the
// pixels mask flags painted magenta: in a band's view that band's, in the
// composite any band's. mask is a (3, H, W) .npy of 0 and 1 (uploads.
// LayerMask).
func renderMaskedPNG(name string, b, mask []byte, p pngParams) ([]byte, error) {
	im, err := data.DecodeImage(name, b, data.ReadOptions{Crop: p.crop, ReplaceNonFinite: true})
	if err != nil {
		return nil, errConflict("%v", err)
	}
	m, err := data.DecodeImage("mask.npy", mask, data.ReadOptions{Crop: p.crop})
	if err != nil || m.C != im.C || m.H != im.H || m.W != im.W {
		return nil, errConflict("the cutout's mask does not fit it (%v)", err)
	}
	drawn := drawImage(im, p)
	rgba := image.NewRGBA(drawn.Bounds())
	draw.Draw(rgba, rgba.Rect, drawn, image.Point{}, draw.Src)
	planes := []int{0, 1, 2}
	if c := slices.Index(data.Bands[:], p.band); c >= 0 {
		planes = []int{c}
	}
	for i := range im.H * im.W {
		for _, c := range planes {
			if m.Plane(c)[i] != 0 {
				copy(rgba.Pix[4*i:], []uint8{255, 0, 255, 255})
				break
			}
		}
	}
	return encodePNG(upscaled(rgba, im, p))
}

// renderImage is drawImage upscaled (see upscaled).
func renderImage(im data.Image, p pngParams) image.Image {
	return upscaled(drawImage(im, p), im, p)
}

// upscaled upscales a drawing of im by p.scale, or less so as to stay
// within render.MaxSide a side.
func upscaled(out image.Image, im data.Image, p pngParams) image.Image {
	if scale := render.FitScale(im.H, im.W, p.scale); scale > 1 {
		return render.Upscale(out, scale)
	}
	return out
}

// drawImage draws one band with a stretch between its 1st and 99.5th
// percentiles, or the colour composite: Lupton's asinh (with p.lupton's Q
// and stretch) for stretch asinh, otherwise the three bands stretched each
// (i red, r green, g blue), a pixel a pixel.
func drawImage(im data.Image, p pngParams) image.Image {
	var out image.Image
	switch {
	case p.band == "rgb" && p.stretch.String() == "asinh":
		out = render.Lupton(im, p.lupton)
	case p.band == "rgb":
		rgba := image.NewRGBA(image.Rect(0, 0, im.W, im.H))
		for c := range min(im.C, 3) {
			lo, hi := render.Percentiles(im.Plane(c), 1, 99.5)
			g := render.Band(im.Plane(c), im.H, im.W, p.stretch, lo, hi)
			for i, v := range g.Pix {
				rgba.Pix[4*i+2-c] = v // g -> blue, r -> green, i -> red
				rgba.Pix[4*i+3] = 255
			}
		}
		out = rgba
	default:
		c := slices.Index(data.Bands[:], p.band)
		lo, hi := render.Percentiles(im.Plane(c), 1, 99.5)
		out = render.Band(im.Plane(c), im.H, im.W, p.stretch, lo, hi)
	}
	return out
}
