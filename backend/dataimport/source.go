package dataimport

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
)

// entry is one file of a source: its source-relative, slash-separated path
// and its bytes (or why they could not be read).
type entry struct {
	path string
	body []byte
	err  error
}

// walker hands a source's files to visit in a fixed order (a folder's in
// lexical order, an archive's in its own), reporting how far through the
// source it is: files seen of total (0 when unknown) or bytes read.
type walker interface {
	walk(ctx context.Context, visit func(entry) error) error
	// total is the number of files, or 0 when it is known only at the end
	// (a tar archive, read as a stream).
	total() int
}

// openSource picks the walker for a folder, a .zip, or a .tar, .tar.gz or
// .tgz archive.
func openSource(src string) (walker, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return newFolder(src)
	}
	name := strings.ToLower(src)
	switch {
	case strings.HasSuffix(name, ".zip"):
		return newZip(src)
	case strings.HasSuffix(name, ".tar"), strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return &tarSource{path: src}, nil
	}
	return nil, fmt.Errorf("%s: not a folder, .zip, .tar, .tar.gz or .tgz", src)
}

// skipped reports whether a path is left out of an import unseen: hidden
// files and folders and macOS archive debris.
func skipped(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, ".") || part == "__MACOSX" {
			return true
		}
	}
	return false
}

// wanted reports whether an import reads a file: a cutout by its
// extension, a splits file, or the provenance file at the top.
func wanted(p string) bool {
	base := path.Base(p)
	return data.IsImageName(base) || isSplitsFile(base) || p == layout.ProvenanceFile
}

// readSized reads a file of size bytes, as its folder or archive says,
// from r in one allocation, refusing one over data.MaxFileBytes before
// reading it and one that is not the size it claimed.
func readSized(r io.Reader, size int64) ([]byte, error) {
	if size > data.MaxFileBytes || size < 0 {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d a cutout file may have", data.ErrTooLarge, size, data.MaxFileBytes)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: shorter than its stated %d bytes: %v", data.ErrCorrupt, size, err)
	}
	// The read past the end also checks a zip member's checksum.
	switch n, err := r.Read(make([]byte, 1)); {
	case n > 0:
		return nil, fmt.Errorf("%w: longer than its stated %d bytes", data.ErrCorrupt, size)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: %v", data.ErrCorrupt, err)
	}
	return b, nil
}

// folder is a server-side folder; links to files are followed, links to
// folders are not (a loop, or a tree outside the folder).
type folder struct {
	root  string
	files []string // slash-separated, relative to root, lexical order
}

func newFolder(root string) (*folder, error) {
	f := &folder{root: root}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if skipped(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !wanted(rel) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		f.files = append(f.files, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (f *folder) total() int { return len(f.files) }

func (f *folder) walk(ctx context.Context, visit func(entry) error) error {
	for _, rel := range f.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := entry{path: rel}
		fh, err := os.Open(filepath.Join(f.root, filepath.FromSlash(rel)))
		if err == nil {
			var st os.FileInfo
			if st, e.err = fh.Stat(); e.err == nil {
				e.body, e.err = readSized(fh, st.Size())
			}
			fh.Close()
		} else {
			e.err = err
		}
		if err := visit(e); err != nil {
			return err
		}
	}
	return nil
}

// zipSource is a zip archive, read in the order of its directory; walk
// closes it.
type zipSource struct {
	zr    *zip.ReadCloser
	files []*zip.File
}

func newZip(p string) (*zipSource, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable zip archive: %w", p, err)
	}
	z := &zipSource{zr: zr}
	for _, f := range zr.File {
		name := strings.TrimPrefix(f.Name, "./")
		if f.FileInfo().IsDir() || skipped(name) || !wanted(name) {
			continue
		}
		z.files = append(z.files, f)
	}
	return z, nil
}

func (z *zipSource) total() int { return len(z.files) }

func (z *zipSource) walk(ctx context.Context, visit func(entry) error) error {
	defer z.zr.Close()
	for _, f := range z.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := entry{path: strings.TrimPrefix(f.Name, "./")}
		if !f.Mode().IsRegular() {
			e.err = errors.New("not a regular file in the archive (a link?)")
		} else if f.UncompressedSize64 > data.MaxFileBytes {
			e.err = fmt.Errorf("%w: %d bytes, more than the %d a cutout file may have", data.ErrTooLarge, f.UncompressedSize64, data.MaxFileBytes)
		} else if r, err := f.Open(); err != nil {
			e.err = err
		} else {
			e.body, e.err = readSized(r, int64(f.UncompressedSize64))
			r.Close()
		}
		if err := visit(e); err != nil {
			return err
		}
	}
	return nil
}

// tarSource is a tar archive, compressed with gzip or not, read as a
// stream: nothing but the current member is held.
type tarSource struct{ path string }

func (t *tarSource) total() int { return 0 }

func (t *tarSource) walk(ctx context.Context, visit func(entry) error) error {
	fh, err := os.Open(t.path)
	if err != nil {
		return err
	}
	defer fh.Close()
	br := bufio.NewReader(fh)
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", t.path, err)
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: not a readable tar archive: %w", t.path, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeDir || skipped(name) || !wanted(name) {
			continue
		}
		e := entry{path: name}
		if h.Typeflag != tar.TypeReg {
			e.err = errors.New("not a regular file in the archive (a link?)")
		} else {
			e.body, e.err = readSized(tr, h.Size)
		}
		if err := visit(e); err != nil {
			return err
		}
	}
}
