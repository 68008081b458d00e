package uploads

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// crop is the centre crop an upload must hold: the models' input, in px.
const crop = 32

// Limits bound one upload request; its size in bytes is bounded by the
// caller (an *http.MaxBytesError from the body is answered TooLarge).
type Limits struct {
	Files    int   // files, zip members included
	ZipBytes int64 // uncompressed bytes of one zip archive
}

// file is one file of a request on its way to the store.
type file struct {
	name string // sanitised; zip members as archive/member
	body []byte
	err  error // already rejected (limits, nesting)
}

// Upload reads a multipart/form-data request body (contentType is its
// Content-Type header): "file" parts, zip archives expanded, and an
// optional "checkpoint" field. It validates and stores each file for
// user, then scores the valid ones with the checkpoint asked for, else the
// default one. A request refused as a whole stores nothing; a file refused
// on its own is reported in the response with the reason.
func (s *Service) Upload(ctx context.Context, user, contentType string, body io.Reader) (shared.UploadResponse, error) {
	files, ckpt, err := s.read(contentType, body)
	if err != nil {
		return shared.UploadResponse{}, err
	}
	resp := shared.UploadResponse{Files: make([]shared.UploadFile, len(files)), Uploads: []shared.Upload{}}
	seen := map[int64]bool{}
	var good []shared.Upload
	for i, f := range files {
		resp.Files[i] = s.keep(ctx, user, f)
		if u := resp.Files[i].Upload; u != nil {
			resp.Accepted++
			if !seen[u.ID] {
				seen[u.ID] = true
				good = append(good, *u)
			}
		} else {
			resp.Rejected++
		}
	}
	resp.Scoring, resp.Message = shared.ScoringNone, "no valid file to score"
	if len(good) > 0 {
		if good, err = s.scoreNew(ctx, ckpt, good, &resp); err != nil {
			return shared.UploadResponse{}, err
		}
	}
	resp.Uploads = append(resp.Uploads, good...)
	Rank(resp.Uploads)
	return resp, nil
}

// read reads the request's files and checkpoint id (0 when not given)
// within the limits.
func (s *Service) read(contentType string, body io.Reader) ([]file, int64, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" {
		return nil, 0, errorf(Unsupported, "send the files as multipart/form-data")
	}
	if params["boundary"] == "" {
		return nil, 0, errorf(BadRequest, "multipart: %v", http.ErrMissingBoundary)
	}
	mr := multipart.NewReader(body, params["boundary"])
	var files []file
	var ckpt int64
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, readErr(err)
		}
		switch part.FormName() {
		case "checkpoint":
			b, err := io.ReadAll(io.LimitReader(part, 32))
			if err != nil {
				return nil, 0, readErr(err)
			}
			if ckpt, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || ckpt <= 0 {
				return nil, 0, store.Invalid("bad checkpoint", "checkpoint", "%q: want a checkpoint id", b)
			}
		case "file":
			b, err := io.ReadAll(part)
			if err != nil {
				return nil, 0, readErr(err)
			}
			name := sanitizeName(part.FileName())
			if formatOf(name) == "zip" {
				files = append(files, unzip(name, b, s.lim.ZipBytes)...)
			} else {
				files = append(files, file{name: name, body: b})
			}
			if len(files) > s.lim.Files {
				return nil, 0, errorf(TooLarge, "more than %d files in one request", s.lim.Files)
			}
		default:
			return nil, 0, errorf(BadRequest, "unexpected form field %q: want file parts and an optional checkpoint", part.FormName())
		}
	}
	if len(files) == 0 {
		return nil, 0, errorf(BadRequest, "no files: send one or more parts named \"file\"")
	}
	return files, ckpt, nil
}

// readErr says why the body could not be read: over its size limit, or
// broken.
func readErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(TooLarge, "upload over the %d MB request limit", mbe.Limit>>20)
	}
	return errorf(BadRequest, "reading the upload: %v", err)
}

// unzip expands an archive into its members, each rejected on its own
// when it breaks a rule; a broken archive is one rejected file. The
// uncompressed total is counted as it is read, not trusted from the
// headers, so a zip bomb stops at the limit (bytes).
func unzip(name string, b []byte, limit int64) []file {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return []file{{name: name, err: fmt.Errorf("not a readable zip archive: %v", err)}}
	}
	tooBig := fmt.Errorf("the archive expands beyond %d MB", limit>>20)
	var out []file
	left := limit
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		member := name + "/" + sanitizeName(f.Name)
		switch {
		case formatOf(f.Name) == "zip":
			out = append(out, file{name: member, err: errors.New("nested zip archives are not accepted")})
			continue
		case left <= 0 || f.UncompressedSize64 > uint64(left):
			out = append(out, file{name: member, err: tooBig})
			continue
		}
		rc, err := f.Open()
		if err != nil {
			out = append(out, file{name: member, err: fmt.Errorf("zip member: %v", err)})
			continue
		}
		body, err := io.ReadAll(io.LimitReader(rc, left+1))
		rc.Close()
		left -= int64(len(body))
		switch {
		case left < 0:
			out = append(out, file{name: member, err: tooBig})
		case err != nil:
			out = append(out, file{name: member, err: fmt.Errorf("zip member: %v", err)})
		default:
			out = append(out, file{name: member, body: body})
		}
	}
	if len(out) == 0 {
		return []file{{name: name, err: errors.New("the archive holds no files")}}
	}
	return out
}

// keep validates one file and records it for user (deduplicated by
// SHA-256); a valid file is kept under DATA/uploads, named by its hash.
func (s *Service) keep(ctx context.Context, user string, f file) shared.UploadFile {
	res := shared.UploadFile{Name: f.name}
	if f.err != nil {
		res.Error = f.err.Error()
		return res
	}
	sum := sha256.Sum256(f.body)
	u := store.Upload{Upload: shared.Upload{Name: f.name[strings.LastIndexByte(f.name, '/')+1:], SHA256: hex.EncodeToString(sum[:]),
		Format: formatOf(f.name), Size: int64(len(f.body)), User: user}}
	if err := validate(&u, f.body); err != nil {
		u.Error = err.Error()
	} else {
		u.Valid = true
		u.Path = filepath.Join("uploads", u.SHA256[:2], u.SHA256+"."+u.Format)
		if err := writeOnce(s.abs(u.Path), f.body); err != nil {
			s.log.Error("uploads: storing a file", "err", err)
			res.Error = "the server could not store the file"
			return res
		}
	}
	stored, dup, err := s.st.AddUpload(ctx, u)
	if err != nil {
		s.log.Error("uploads: recording a file", "err", err)
		res.Error = "the server could not record the file"
		return res
	}
	res.Duplicate = dup
	if !stored.Valid {
		res.Error = stored.Error
		return res
	}
	res.Upload = &stored.Upload
	return res
}

// validate decodes an upload of a known format, records its size in px,
// and checks that it holds the models' centre crop; the reason it is
// refused does not repeat the file's name.
func validate(u *store.Upload, body []byte) error {
	if u.Format == "" || u.Format == "zip" {
		return errors.New("unsupported file type: want .npy, .fits, .fits.gz, .png or .jpg")
	}
	im, err := data.DecodeImage(u.Name, body, data.ReadOptions{})
	if err == nil {
		u.Width, u.Height = im.W, im.H
		_, err = data.CenterCrop(im, crop, crop)
	}
	var fe *data.FileError
	if errors.As(err, &fe) {
		return fe.Err
	}
	return err
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

// sanitizeName reduces an uploaded file name to a safe base name: the last
// element of any path (either slash), without control characters or a
// leading dot, at most 200 bytes.
func sanitizeName(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		return "unnamed"
	}
	return name
}

// formatOf names an image file's format by its extension, "" if unknown.
func formatOf(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".fits.gz"), strings.HasSuffix(n, ".fit.gz"), strings.HasSuffix(n, ".fts.gz"):
		return "fits.gz"
	case strings.HasSuffix(n, ".npy.gz"):
		return "npy.gz"
	}
	switch filepath.Ext(n) {
	case ".npy":
		return "npy"
	case ".fits", ".fit", ".fts":
		return "fits"
	case ".png":
		return "png"
	case ".jpg", ".jpeg":
		return "jpeg"
	case ".zip":
		return "zip"
	}
	return ""
}
