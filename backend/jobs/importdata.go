package jobs

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/dataimport"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/shared"
)

// CheckImportData checks a dataset import before it is queued, field by
// field: a source folder or archive in the data folder, three
// non-negative split shares with a positive train share, and radii with
// 0 < same-object <= group.
func CheckImportData(dataDir string, r shared.ImportDataRequest) error {
	var errs []error
	if strings.TrimSpace(r.Source) == "" {
		errs = append(errs, shared.FieldErrorf("import.source", "give a folder or a .zip, .tar, .tar.gz or .tgz archive in the data folder"))
	} else if p, err := DataPath(dataDir, r.Source); err != nil {
		errs = append(errs, shared.FieldError{Key: "import.source", Message: err.Error()})
	} else if st, err := os.Stat(p); err != nil || !(st.IsDir() || IsArchive(p)) {
		errs = append(errs, shared.FieldErrorf("import.source", "%s: not a folder, .zip, .tar, .tar.gz or .tgz", r.Source))
	}
	if len(r.Splits) > 0 {
		var fr [3]float64
		if len(r.Splits) != 3 {
			errs = append(errs, shared.FieldErrorf("import.splits", "%d shares: want three, train, val and test", len(r.Splits)))
		} else if copy(fr[:], r.Splits); !(fr[0] > 0 && fr[1] >= 0 && fr[2] >= 0) {
			errs = append(errs, shared.FieldErrorf("import.splits", "%v: want non-negative shares with a positive train share", r.Splits))
		}
	}
	same, group := cmp.Or(r.SameObject, dataimport.DefaultSameObject), cmp.Or(r.GroupRadius, dataimport.DefaultGroupRadius)
	if !(same > 0) || !(group >= same) {
		errs = append(errs, shared.FieldErrorf("import.group_radius", "same-object radius %g\" and group radius %g\": want 0 < same-object <= group", same, group))
	}
	return errors.Join(errs...)
}

// IsArchive reports whether a file name is one of the archives an import
// reads.
func IsArchive(p string) bool {
	n := strings.ToLower(p)
	for _, ext := range []string{".zip", ".tar", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(n, ext) {
			return true
		}
	}
	return false
}

// importDataArgs are the import-data arguments of a run whose folder is
// dir: a start after a failed one begins again (an import that stops
// leaves no dataset behind).
func (m *Manager) importDataArgs(sub, dir string, p Params) ([]string, error) {
	r := p.DataImport
	args := []string{sub, m.abs(r.Source), "--out", m.abs(p.Out), "--seed", strconv.FormatUint(r.Seed, 10),
		"--progress-file", filepath.Join(dir, layout.ImportProgress)}
	if len(r.Splits) == 3 {
		args = append(args, "--splits", fmt.Sprintf("%g,%g,%g", r.Splits[0], r.Splits[1], r.Splits[2]))
	}
	if r.SameObject != 0 {
		args = append(args, "--same-object", strconv.FormatFloat(r.SameObject, 'g', -1, 64))
	}
	if r.GroupRadius != 0 {
		args = append(args, "--group-radius", strconv.FormatFloat(r.GroupRadius, 'g', -1, 64))
	}
	if r.ZAsI {
		args = append(args, "--z-as-i")
	}
	return args, nil
}
