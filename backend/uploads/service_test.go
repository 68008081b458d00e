package uploads

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/store"
)

// newService returns a service over a fresh store and data folder.
func newService(t *testing.T, m Model, lim Limits) *Service {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "sslens.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(Options{DataDir: dir, Store: st, Model: m, Limits: lim})
}

// expand lists the files of an archive as an upload request reads them,
// bodies copied.
func expand(t *testing.T, s *Service, name string, archive []byte) []file {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	x := s.expansion("ann")
	defer x.done()
	var out []file
	var buf bytes.Buffer
	x.members(received{name: name, path: path, size: int64(len(archive))}, &buf, func(f file) {
		f.body = bytes.Clone(f.body)
		out = append(out, f)
	})
	return out
}

// part is a form part: a file, or a field when name has no dot.
type part struct {
	name string
	body []byte
}

// form encodes parts as a multipart/form-data body: parts named with a
// dot are "file" parts, others fields; it returns the Content-Type.
func form(t *testing.T, parts ...part) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if filepath.Ext(p.name) != "" {
			w, err = mw.CreateFormFile("file", p.name)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.body)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

// cutout is a (3, side, side) .npy whose pixels depend on seed.
func cutout(side int, seed float32) []byte {
	im := data.NewImage(3, side, side)
	for i := range im.Pix {
		im.Pix[i] = seed + float32(i%7)
	}
	return data.EncodeNPY(im)
}

var ctx = context.Background()
