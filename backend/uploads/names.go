package uploads

import (
	"bytes"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/sslens/sslens/shared"
)

// maxName bounds a sanitised file name, in bytes.
const maxName = 200

// sanitizeName reduces an uploaded file name to a safe base name: the last
// element of any path (either slash), without control characters or a
// leading dot, at most maxName bytes. A long name loses the end of its
// stem, never its extension (".gz" keeps the one before it too), and is
// cut between UTF-8 characters.
func sanitizeName(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if len(name) > maxName {
		ext := extension(name)
		if len(ext) > maxName/2 { // not an extension but a long name with a dot
			ext = ""
		}
		name = shared.CutUTF8(name[:len(name)-len(ext)], maxName-len(ext)) + ext
	}
	if name == "" {
		return "unnamed"
	}
	return name
}

// extension is name's extension with its dot, two of them for a
// compressed file (".fits.gz"); "" when name has none.
func extension(name string) string {
	ext := filepath.Ext(name)
	if strings.EqualFold(ext, ".gz") {
		ext = filepath.Ext(strings.TrimSuffix(name, ext)) + ext
	}
	return ext
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

// magic is how files of each format begin: a file whose name claims a
// format its bytes do not have is refused, whatever a decoder would make
// of them (image decoders sniff PNG and JPEG alike). A gzipped file's
// inner format is checked by its decoder.
var magic = map[string][]byte{
	"npy":     []byte("\x93NUMPY"),
	"fits":    []byte("SIMPLE  ="),
	"png":     []byte("\x89PNG\r\n\x1a\n"),
	"jpeg":    {0xff, 0xd8, 0xff},
	"fits.gz": {0x1f, 0x8b},
	"npy.gz":  {0x1f, 0x8b},
}

// contentIs reports whether b begins as files of format do.
func contentIs(format string, b []byte) bool {
	m, ok := magic[format]
	return ok && bytes.HasPrefix(b, m)
}
