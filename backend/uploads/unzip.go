package uploads

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// maxZipDir bounds the central directory of an archive, in bytes, so
// that reading it (archive/zip holds it in memory) stays cheap whatever
// the archive claims.
const maxZipDir = 4 << 20

// tooManyEntries is an archive holding more entries than a request may
// hold files.
type tooManyEntries struct{ n, max uint64 }

func (e *tooManyEntries) Error() string {
	return fmt.Sprintf("the archive holds %d entries, more than the %d files of a request", e.n, e.max)
}

// openZip reads the directory of the archive f (size bytes) once its end
// record shows that it holds at most Limits.Files entries (folders
// included) in at most maxZipDir bytes.
func (s *Service) openZip(f io.ReaderAt, size int64) (*zip.Reader, error) {
	entries, dirBytes, err := zipEnd(f, size)
	switch {
	case err != nil:
		return nil, fmt.Errorf("not a readable zip archive: %v", err)
	case entries > uint64(s.lim.Files):
		return nil, &tooManyEntries{entries, uint64(s.lim.Files)}
	case dirBytes > maxZipDir:
		return nil, fmt.Errorf("the archive's directory is over %d MB", maxZipDir>>20)
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, fmt.Errorf("not a readable zip archive: %v", err)
	}
	return zr, nil
}

// zipEnd reads the number of entries and the size of the central
// directory (bytes) from an archive's end record, or its zip64 end record
// when the first says so (APPNOTE 6.3, sections 4.3.14 to 4.3.16).
func zipEnd(r io.ReaderAt, size int64) (entries, dirBytes uint64, err error) {
	const endLen, locatorLen, end64Len = 22, 20, 56
	tail := make([]byte, min(size, endLen+0xffff)) // the record and a comment of up to 64 KiB
	if _, err := r.ReadAt(tail, size-int64(len(tail))); err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || len(tail)-i < endLen {
		return 0, 0, errors.New("no end of central directory")
	}
	end := tail[i:]
	entries, dirBytes = uint64(binary.LittleEndian.Uint16(end[10:])), uint64(binary.LittleEndian.Uint32(end[12:]))
	if entries != 0xffff && dirBytes != 0xffffffff {
		return entries, dirBytes, nil
	}
	at := size - int64(len(tail)) + int64(i) - locatorLen
	loc, rec := make([]byte, locatorLen), make([]byte, end64Len)
	if at < 0 {
		return 0, 0, errors.New("no zip64 end locator")
	}
	if _, err := r.ReadAt(loc, at); err != nil || !bytes.HasPrefix(loc, []byte("PK\x06\x07")) {
		return 0, 0, errors.New("no zip64 end locator")
	}
	off := binary.LittleEndian.Uint64(loc[8:])
	if off > uint64(size) {
		return 0, 0, errors.New("zip64 end record out of the file")
	}
	if _, err := r.ReadAt(rec, int64(off)); err != nil || !bytes.HasPrefix(rec, []byte("PK\x06\x06")) {
		return 0, 0, errors.New("no zip64 end record")
	}
	return binary.LittleEndian.Uint64(rec[32:]), binary.LittleEndian.Uint64(rec[40:]), nil
}

// zipFiles is how many files an archive received at path counts for in
// a request: its members, or 1 when it is refused as a whole.
func (s *Service) zipFiles(path string, size int64) int {
	f, err := os.Open(path)
	if err != nil {
		return 1
	}
	defer f.Close()
	zr, err := s.openZip(f, size)
	var many *tooManyEntries
	switch {
	case errors.As(err, &many):
		return int(min(many.n, uint64(s.lim.Files)+1))
	case err != nil:
		return 1
	}
	n := 0
	for _, zf := range zr.File {
		if !zf.FileInfo().IsDir() {
			n++
		}
	}
	return max(n, 1)
}

// expansion counts the bytes one request expands from its zip archives
// against Limits.ExpandBytes and, with its user's other requests in
// progress, Limits.UserExpandBytes.
type expansion struct {
	s    *Service
	user string
	left int64 // of the request's ExpandBytes
	held int64 // of the user's budget, given back by done
}

func (s *Service) expansion(user string) *expansion {
	return &expansion{s: s, user: user, left: s.lim.ExpandBytes}
}

// done gives the request's share of its user's budget back.
func (x *expansion) done() { x.s.users.give(x.user, x.held) }

// members calls each for every file of an archive, in archive order,
// each member's bytes in buf (valid until the next call): a member that
// breaks a rule is refused on its own, a broken archive is one refused
// file.
func (x *expansion) members(r received, buf *bytes.Buffer, each func(file)) {
	f, err := os.Open(r.path)
	if err != nil {
		x.s.log.Error("uploads: reopening a received archive", "err", err)
		each(file{name: r.name, err: errNotRead})
		return
	}
	defer f.Close()
	zr, err := x.s.openZip(f, r.size)
	if err != nil {
		each(file{name: r.name, err: err})
		return
	}
	zipLeft, n := x.s.lim.ZipBytes, 0
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() {
			continue
		}
		n++
		member := r.name + "/" + sanitizeName(zf.Name)
		if formatOf(zf.Name) == "zip" {
			each(file{name: member, err: errors.New("nested zip archives are not accepted")})
			continue
		}
		body, err := x.read(zf, &zipLeft, buf)
		each(file{name: member, body: body, err: err})
	}
	if n == 0 {
		each(file{name: r.name, err: errors.New("the archive holds no files")})
	}
}

// read expands one member into buf within the smallest of the bounds
// left: one file's, its archive's (*zipLeft), the request's and its
// user's. The bytes are counted as they are read, not trusted from the
// headers, so a zip bomb stops at the bound, which the error names.
func (x *expansion) read(zf *zip.File, zipLeft *int64, buf *bytes.Buffer) ([]byte, error) {
	lim := x.s.lim
	limit, over := lim.FileBytes, fmt.Errorf("larger than %d MB once expanded", lim.FileBytes>>20)
	if *zipLeft < limit {
		limit, over = *zipLeft, fmt.Errorf("the archive expands beyond %d MB", lim.ZipBytes>>20)
	}
	if x.left < limit {
		limit, over = x.left, fmt.Errorf("the archives of this request expand beyond %d MB", lim.ExpandBytes>>20)
	}
	if limit <= 0 || zf.UncompressedSize64 > uint64(limit) {
		return nil, over
	}
	// One byte past the limit tells a file at the limit from a longer one.
	got := x.s.users.take(x.user, limit+1)
	if got <= limit {
		limit, over = got-1, fmt.Errorf("your uploads in progress expand beyond %d MB", lim.UserExpandBytes>>20)
		if limit < 0 || zf.UncompressedSize64 > uint64(limit) {
			x.s.users.give(x.user, got)
			return nil, over
		}
	}
	buf.Reset()
	buf.Grow(int(zf.UncompressedSize64) + bytes.MinRead) // archive/zip reads no more than the header says
	rc, err := zf.Open()
	var n int64
	if err == nil {
		n, err = buf.ReadFrom(io.LimitReader(rc, limit+1))
		rc.Close()
	}
	x.s.users.give(x.user, got-n)
	x.held += n
	*zipLeft -= n
	x.left -= n
	switch {
	case n > limit:
		return nil, over
	case err != nil:
		return nil, fmt.Errorf("zip member: %v", err)
	}
	return buf.Bytes(), nil
}

// userBudgets shares Limits.UserExpandBytes among each user's requests
// in progress.
type userBudgets struct {
	max  int64
	mu   sync.Mutex
	used map[string]int64
}

func newUserBudgets(max int64) *userBudgets {
	return &userBudgets{max: max, used: map[string]int64{}}
}

// take reserves up to n bytes of user's budget and returns how many.
func (b *userBudgets) take(user string, n int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	got := max(min(n, b.max-b.used[user]), 0)
	b.used[user] += got
	return got
}

// give returns n bytes to user's budget.
func (b *userBudgets) give(user string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used[user] -= n; b.used[user] <= 0 {
		delete(b.used, user)
	}
}
