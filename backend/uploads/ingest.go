package uploads

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// crop is the centre crop an upload must hold: the models' input, in px.
const crop = 32

// Limits bound one upload request; its size in bytes is bounded by the
// caller (an *http.MaxBytesError from the body is answered TooLarge). A
// request is received to disk and its files are then read one at a time,
// so it holds at most one file (FileBytes) and its decoded image in
// memory. Zero fields take their DefaultLimits value.
type Limits struct {
	Files     int   // files, zip members included; also bounds a zip's entries
	FileBytes int64 // one file as read: a part, or a zip member uncompressed
	ZipBytes  int64 // uncompressed bytes of one zip archive
	// ExpandBytes bounds the uncompressed bytes of all the zip archives
	// of one request, UserExpandBytes those of one user's requests in
	// progress together.
	ExpandBytes     int64
	UserExpandBytes int64
}

// DefaultLimits are the limits of the API reference.
var DefaultLimits = Limits{Files: 1000, FileBytes: data.MaxFileBytes, ZipBytes: 64 << 20,
	ExpandBytes: 256 << 20, UserExpandBytes: 512 << 20}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	return Limits{Files: cmp.Or(l.Files, d.Files), FileBytes: cmp.Or(l.FileBytes, d.FileBytes), ZipBytes: cmp.Or(l.ZipBytes, d.ZipBytes),
		ExpandBytes: cmp.Or(l.ExpandBytes, d.ExpandBytes), UserExpandBytes: cmp.Or(l.UserExpandBytes, d.UserExpandBytes)}
}

// file is one file of a request on its way to the store.
type file struct {
	name string // sanitised; zip members as archive/member
	body []byte // valid until the next file is read
	err  error  // already rejected (limits, nesting)
	// meta, when set, says what the file's own header cannot: the object
	// and position of a cutout combined from single-band files, and a band
	// read in place of another.
	meta *data.Meta
	zAsI bool // read a z band as i, as the request asked
}

// errNotRead answers a file the server failed to read back from disk.
var errNotRead = errors.New("the server could not read the file")

// Upload reads a multipart/form-data request body (contentType is its
// Content-Type header): "file" parts, zip archives expanded, and an
// optional "checkpoint" field. It validates and stores each file for
// user, then scores the valid ones with the checkpoint asked for, else the
// default one. A request refused as a whole stores nothing; a file refused
// on its own is reported in the response with the reason.
func (s *Service) Upload(ctx context.Context, user, contentType string, body io.Reader) (shared.UploadResponse, error) {
	in, err := s.receive(contentType, body)
	if err != nil {
		return shared.UploadResponse{}, err
	}
	defer func() {
		if err := in.remove(); err != nil {
			s.log.Error("uploads: removing a received request", "err", err)
		}
	}()
	x := s.expansion(user)
	defer x.done()
	resp := shared.UploadResponse{Files: []shared.UploadFile{}, Uploads: []shared.Upload{}}
	seen := map[int64]bool{}
	var good []shared.Upload
	var buf bytes.Buffer // the file being read, reused
	record := func(res shared.UploadFile) {
		resp.Files = append(resp.Files, res)
		if u := res.Upload; u != nil {
			resp.Accepted++
			if !seen[u.ID] {
				seen[u.ID] = true
				good = append(good, *u)
			}
		} else {
			resp.Rejected++
		}
	}
	// Catalogues first: they give positions to the files beside them.
	positions := map[string]data.Meta{}
	for _, r := range in.parts {
		if !isCatalogue(r.name) {
			continue
		}
		f := s.readPart(r, &buf)
		cat, err := catalogue{}, f.err
		if err == nil {
			cat, err = parseCatalogue(f.name, f.body)
		}
		res := shared.UploadFile{Name: f.name}
		switch {
		case err != nil:
			res.Error = shared.CapMessage("catalogue: " + err.Error())
		case len(cat.problems) > 0:
			res.Error = shared.CapMessage(cat.summary())
		default:
			res.Note = cat.summary()
		}
		resp.Files = append(resp.Files, res)
		if res.Error != "" {
			resp.Rejected++
		}
		for name, m := range cat.rows {
			if _, taken := positions[name]; !taken {
				positions[name] = m
			}
		}
	}
	var bands bandSet
	keep := func(f file) {
		if m, ok := positions[path.Base(f.name)]; ok && f.meta == nil {
			f.meta = &m
		}
		f.zAsI = in.zAsI
		res, band := s.keep(ctx, user, f)
		if band == nil {
			record(res)
		} else if err := bands.add(f.name, *band); err != nil {
			record(shared.UploadFile{Name: f.name, Error: err.Error()})
		}
	}
	for _, r := range in.parts {
		switch {
		case isCatalogue(r.name):
		case formatOf(r.name) == "zip":
			x.members(r, &buf, keep)
		default:
			keep(s.readPart(r, &buf))
		}
	}
	for _, g := range bands.objects() {
		for _, res := range s.keepCombined(ctx, user, g, in.zAsI) {
			record(res)
		}
	}
	resp.Scoring, resp.Message = shared.ScoringNone, "no valid file to score"
	if len(good) > 0 {
		if good, err = s.scoreNew(ctx, in.ckpt, good, &resp); err != nil {
			return shared.UploadResponse{}, err
		}
	}
	resp.Uploads = append(resp.Uploads, good...)
	if err := s.describePositions(ctx, resp.Uploads, false); err != nil {
		return shared.UploadResponse{}, err
	}
	Rank(resp.Uploads)
	return resp, nil
}

// readPart reads a received file part into buf.
func (s *Service) readPart(r received, buf *bytes.Buffer) file {
	if r.size > s.lim.FileBytes {
		return file{name: r.name, err: fmt.Errorf("larger than %d MB", s.lim.FileBytes>>20)}
	}
	f, err := os.Open(r.path)
	if err == nil {
		buf.Reset()
		buf.Grow(int(r.size) + bytes.MinRead)
		_, err = buf.ReadFrom(f)
		f.Close()
	}
	if err != nil {
		s.log.Error("uploads: reading a received file", "err", err)
		return file{name: r.name, err: errNotRead}
	}
	return file{name: r.name, body: buf.Bytes()}
}

// keep validates one file by its own name and content and records it for
// user; a valid file's bytes are kept once under DATA/uploads, named by
// their hash, and shared by every upload of them. A single band of a
// cutout is not recorded: it is returned, to be combined with its object's
// other bands.
func (s *Service) keep(ctx context.Context, user string, f file) (shared.UploadFile, *data.Band) {
	res := shared.UploadFile{Name: f.name}
	if f.err != nil {
		res.Error = shared.CapMessage(f.err.Error())
		return res, nil
	}
	sum := sha256.Sum256(f.body)
	u := store.Upload{Upload: shared.Upload{Name: f.name[strings.LastIndexByte(f.name, '/')+1:], SHA256: hex.EncodeToString(sum[:]),
		Format: formatOf(f.name), Size: int64(len(f.body)), User: user}}
	im, meta, err := validate(&u, f.body, f.zAsI)
	if err == nil && meta.Substituted != "" {
		// Kept as the image read, under a name that says so: scoring and
		// rendering then read it as it is, bands in place.
		if m := f.meta; m != nil && meta.Position == nil {
			meta.Position, meta.PositionFrom = m.Position, m.PositionFrom // from a catalogue
		}
		res, _ := s.keep(ctx, user, file{name: substitutedName(f.name), body: data.EncodeNPY(im), meta: &meta})
		res.Name = f.name
		if res.Upload != nil {
			res.Note = fmt.Sprintf("its z band read as i, as asked (the model was trained on g, r, i): kept as %s", res.Upload.Name)
		}
		return res, nil
	}
	if errors.Is(err, data.ErrSingleBand) {
		band, err := data.DecodeBand(f.name, f.body)
		if err == nil {
			return res, &band
		}
		var fe *data.FileError
		if errors.As(err, &fe) {
			err = fe.Err
		}
		res.Error = shared.CapMessage(err.Error())
		return res, nil
	}
	if m := f.meta; m != nil && err == nil {
		// What the file says of itself wins.
		u.Object = cmp.Or(u.Object, m.Object)
		if u.Position == nil {
			u.Position = position(m)
		}
		u.BandWarning = m.Substituted
	}
	if err != nil {
		u.Error = shared.CapMessage(err.Error())
	} else {
		u.Valid = true
		u.Path = filepath.Join("uploads", u.SHA256[:2], u.SHA256+"."+u.Format)
		if err := writeOnce(s.abs(u.Path), f.body); err != nil {
			s.log.Error("uploads: storing a file", "err", err)
			res.Error = "the server could not store the file"
			return res, nil
		}
	}
	stored, dup, err := s.st.AddUpload(ctx, u)
	if err != nil {
		s.log.Error("uploads: recording a file", "err", err)
		res.Error = "the server could not record the file"
		return res, nil
	}
	res.Duplicate = dup
	if !stored.Valid {
		res.Error = stored.Error
		return res, nil
	}
	res.Upload = &stored.Upload
	return res, nil
}

// validate decodes an upload of a known format (a z band read as i with
// zAsI), records its size in px, and checks that it holds the models'
// centre crop; the reason it is refused does not repeat the file's name.
// It returns the image and what the file said of itself.
func validate(u *store.Upload, body []byte, zAsI bool) (data.Image, data.Meta, error) {
	if u.Format == "" || u.Format == "zip" {
		return data.Image{}, data.Meta{}, errors.New("unsupported file type: want .npy, .fits, .fits.gz, .png or .jpg")
	}
	if len(body) == 0 {
		return data.Image{}, data.Meta{}, errors.New("the file is empty (0 bytes)")
	}
	if !contentIs(u.Format, body) {
		return data.Image{}, data.Meta{}, fmt.Errorf("the content is not a %s file, as its name says", u.Format)
	}
	im, meta, err := data.DecodeCutout(u.Name, body, data.ReadOptions{ZAsI: zAsI})
	if err == nil {
		u.Width, u.Height = im.W, im.H
		u.Object = meta.Object
		u.Position = position(&meta)
		_, err = data.CenterCrop(im, crop, crop)
	}
	var fe *data.FileError
	if errors.As(err, &fe) {
		err = fe.Err
	}
	return im, meta, err
}

// substitutedName names the cutout kept for a file read with its z band
// as i: "<stem>-z_as_i.npy".
func substitutedName(name string) string {
	return sanitizeName(fileStem(name) + "-z_as_i.npy")
}

// fileStem is a file name without its folder and extensions:
// "a/J1000.fits.gz" -> "J1000".
func fileStem(name string) string {
	stem := strings.TrimSuffix(path.Base(name), ".gz")
	return strings.TrimSuffix(stem, path.Ext(stem))
}

// writeOnce writes a content-addressed file unless it exists.
func writeOnce(path string, b []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, b)
}

// position is the upload position m gives, with the orientation on the
// screen (rows run down it, as FITS y runs up the sky image: the same
// vectors); nil when m has none.
func position(m *data.Meta) *shared.Position {
	p := m.Position
	if p == nil {
		return nil
	}
	out := &shared.Position{RA: p.RA, Dec: p.Dec, From: string(m.PositionFrom)}
	if o := m.Orientation; o != nil {
		out.Orientation = &shared.Orientation{Scale: o.Scale, North: o.North, East: o.East}
	}
	return out
}
