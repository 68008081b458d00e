package uploads

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/sky"
	"github.com/sslens/sslens/shared"
)

// Single-band files (the HSC cutout service gives one FITS file per
// filter) wait until their request has been read; then the g, r and i
// bands of each object are combined into one cutout, stored as .npy with
// the object's name and position.

// maxPendingBandBytes bounds the pixels of the single-band files one
// request holds until it is read (float32): 64 MB, the bands of some 1300
// objects of 64 x 64 pixels.
const maxPendingBandBytes = 64 << 20

// pendingBand is a single-band file of a request.
type pendingBand struct {
	name string // as uploaded, sanitised
	band data.Band
}

// bandSet holds a request's single-band files.
type bandSet struct {
	pending []pendingBand
	bytes   int64
}

// add keeps a band; a request over maxPendingBandBytes of them is refused
// file by file, with the reason.
func (b *bandSet) add(name string, band data.Band) error {
	n := int64(4 * len(band.Pix))
	if b.bytes+n > maxPendingBandBytes {
		return fmt.Errorf("too many single-band files in one request (more than %d MB of pixels): upload fewer objects at a time", maxPendingBandBytes>>20)
	}
	b.bytes += n
	b.pending = append(b.pending, pendingBand{name: name, band: band})
	return nil
}

// objects groups the bands by object, in upload order: the same OBJECT
// keyword, else positions within samePosition arcseconds; a band with
// neither is an object of its own.
func (b *bandSet) objects() [][]pendingBand {
	var groups [][]pendingBand
	for _, p := range b.pending {
		placed := false
		for i, g := range groups {
			if sameObject(g[0].band.Meta, p.band.Meta) {
				groups[i], placed = append(g, p), true
				break
			}
		}
		if !placed {
			groups = append(groups, []pendingBand{p})
		}
	}
	return groups
}

// sameObject reports whether two single-band files show one object.
func sameObject(a, b data.Meta) bool {
	switch {
	case a.Object != "" && b.Object != "":
		return a.Object == b.Object
	case a.Position != nil && b.Position != nil:
		return sky.Separation(*a.Position, *b.Position) <= samePosition
	}
	return false
}

// keepCombined combines one object's bands into a cutout and keeps it; every
// band file is answered with the combined upload and a note, or with why
// they could not be combined.
func (s *Service) keepCombined(ctx context.Context, user string, g []pendingBand, zAsI bool) []shared.UploadFile {
	names := make([]string, len(g))
	bands := make([]data.Band, len(g))
	for i, p := range g {
		names[i], bands[i] = p.name, p.band
	}
	out := make([]shared.UploadFile, len(g))
	im, meta, err := data.CombineBands(bands, zAsI)
	if err != nil {
		for i, p := range g {
			with := ""
			if len(g) > 1 {
				with = " with " + strings.Join(others(names, i), ", ")
			}
			out[i] = shared.UploadFile{Name: p.name, Error: shared.CapMessage(fmt.Sprintf("one band of a cutout that could not be combined%s: %v", with, err))}
		}
		return out
	}
	res, _ := s.keep(ctx, user, file{name: combinedName(g[0].name, meta), body: data.EncodeNPY(im), meta: &meta})
	if res.Upload != nil {
		_, content, err := s.Stored(ctx, res.Upload.ID)
		if err == nil {
			err = writeLayers(content, meta)
		}
		if err != nil { // the cutout is kept and scored; only its display layers are lost
			s.log.Error("uploads: keeping a cutout's mask and noise", "err", err)
		}
	}
	for i, p := range g {
		out[i] = res
		out[i].Name = p.name
		if res.Upload != nil {
			out[i].Note = fmt.Sprintf("band %s, combined with %s into %s", p.band.Filter, strings.Join(others(names, i), " and "), res.Upload.Name)
		}
	}
	return out
}

// combinedName names a combined cutout after its object, else its first
// band's file: "<object>-gri.npy".
func combinedName(first string, meta data.Meta) string {
	stem := meta.Object
	if stem == "" {
		stem = fileStem(first)
	}
	return sanitizeName(strings.NewReplacer("/", "_", `\`, "_").Replace(stem) + "-gri.npy")
}

// others returns names without its i-th.
func others(names []string, i int) []string {
	return slices.Concat(names[:i], names[i+1:])
}
