package uploads

import (
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

	"github.com/sslens/sslens/backend/store"
)

// incomingDir holds the requests being received, under the data folder:
// one folder per request, removed when it has been handled.
const incomingDir = "uploads/incoming"

// incoming is an upload request received to disk: its file parts in
// request order and the checkpoint asked for (0 when none). Only a small
// copy buffer is held in memory while it is received.
type incoming struct {
	dir   string
	parts []received
	ckpt  int64
	zAsI  bool // read a z band as i (the "z_as_i" field)
}

// received is one file part, kept at path.
type received struct {
	name string // sanitised
	path string
	size int64 // bytes
}

// remove deletes the request's folder.
func (in *incoming) remove() error { return os.RemoveAll(in.dir) }

// receive reads a multipart/form-data body (contentType is its
// Content-Type header) into a fresh folder: "file" parts, each a file,
// and an optional "checkpoint" field. It refuses the request as a whole,
// leaving nothing behind, when it is malformed or holds more than
// Limits.Files files (zip members counted from each archive's directory).
func (s *Service) receive(contentType string, body io.Reader) (*incoming, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" {
		return nil, errorf(Unsupported, "send the files as multipart/form-data")
	}
	if params["boundary"] == "" {
		return nil, errorf(BadRequest, "multipart: %v", http.ErrMissingBoundary)
	}
	root := s.abs(incomingDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("uploads: receiving a request: %w", err)
	}
	dir, err := os.MkdirTemp(root, "request-")
	if err != nil {
		return nil, fmt.Errorf("uploads: receiving a request: %w", err)
	}
	in := &incoming{dir: dir}
	if err := s.receiveParts(in, multipart.NewReader(body, params["boundary"])); err != nil {
		in.remove()
		return nil, err
	}
	return in, nil
}

// receiveParts copies the parts of mr into in's folder.
func (s *Service) receiveParts(in *incoming, mr *multipart.Reader) error {
	files := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return readErr(err)
		}
		switch part.FormName() {
		case "checkpoint":
			b, err := io.ReadAll(io.LimitReader(part, 32))
			if err != nil {
				return readErr(err)
			}
			if in.ckpt, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || in.ckpt <= 0 {
				return store.Invalid("bad checkpoint", "checkpoint", "%q: want a checkpoint id", b)
			}
		case "z_as_i":
			b, err := io.ReadAll(io.LimitReader(part, 8))
			if err != nil {
				return readErr(err)
			}
			if in.zAsI, err = strconv.ParseBool(strings.TrimSpace(string(b))); err != nil {
				return store.Invalid("bad z_as_i", "z_as_i", "%q: want true or false", b)
			}
		case "file":
			r := received{name: sanitizeName(part.FileName()), path: filepath.Join(in.dir, strconv.Itoa(len(in.parts)))}
			if r.size, err = copyTo(r.path, part); err != nil {
				return err
			}
			in.parts = append(in.parts, r)
			n := 1
			if formatOf(r.name) == "zip" {
				n = s.zipFiles(r.path, r.size)
			}
			if files += n; files > s.lim.Files {
				return errorf(TooLarge, "more than %d files in one request", s.lim.Files)
			}
		default:
			return errorf(BadRequest, "unexpected form field %q: want file parts, an optional checkpoint and z_as_i", part.FormName())
		}
	}
	if len(in.parts) == 0 {
		return errorf(BadRequest, "no files: send one or more parts named \"file\"")
	}
	return nil
}

// copyTo writes a part to a new file at path and returns its size.
func copyTo(path string, part io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("uploads: receiving a file: %w", err)
	}
	n, err := io.Copy(f, part)
	if cerr := f.Close(); err == nil && cerr != nil {
		return 0, fmt.Errorf("uploads: receiving a file: %w", cerr)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return 0, fmt.Errorf("uploads: receiving a file: %w", err)
		}
		return 0, readErr(err)
	}
	return n, nil
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
