// Package uploadstest builds upload fixtures for tests of the uploads
// service and the portal's upload routes.
package uploadstest

import (
	"archive/zip"
	"bytes"
	"testing"
)

// Member is a file of an archive; a name ending in "/" is a folder.
type Member struct {
	Name string
	Body []byte
}

// Zip builds an archive of the members, in order, names kept verbatim
// (so they may climb out with "..", as hostile archives do).
func Zip(t testing.TB, members ...Member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.Create(m.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(m.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
