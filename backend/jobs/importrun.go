package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// importCheckpoint is where an import run writes its checkpoint, relative
// to the run folder: checkpoints/last, where a pretraining run leaves its
// backbone, so that both are registered and listed alike.
const importCheckpoint = layout.LastDir

// maxKeyList bounds the key names one log line lists (bytes): ViT-B has
// some 150; the sidecar keeps them all.
const maxKeyList = 1000

// CheckImport checks an import request against the data folder dataDir:
// the source must be a file inside it, given by a relative path. Problems
// come back as shared.FieldError values (joined), keyed import.source,
// import.heads and import.from.
func CheckImport(dataDir string, r shared.ImportRequest) error {
	var errs []error
	if _, err := ImportSource(dataDir, r.Source); err != nil {
		errs = append(errs, shared.FieldError{Key: "import.source", Message: err.Error()})
	}
	if r.Heads < 0 {
		errs = append(errs, shared.FieldErrorf("import.heads", "%d heads: want a positive number, or 0 for the importer's rule", r.Heads))
	}
	if r.From != "" && r.From != "teacher" && r.From != "student" {
		errs = append(errs, shared.FieldErrorf("import.from", "%q: want teacher or student", r.From))
	}
	return errors.Join(errs...)
}

// ImportSource resolves rel, a weights file's path relative to the data
// folder dataDir (see DataPath), which must be a file.
func ImportSource(dataDir, rel string) (string, error) {
	if err := (shared.ImportRequest{Source: rel}).CheckSource(); err != nil {
		return "", err
	}
	p, err := DataPath(dataDir, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no file %s in the data folder: place the downloaded weights there first", rel)
	}
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(p); err != nil {
		return "", err
	} else if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a file", rel)
	}
	return p, nil
}

// DataPath resolves rel, a path relative to the data folder dataDir, to
// where it leads, and refuses whatever could reach outside that folder:
// an absolute path, a ".." element, a link that leads out. A path that is
// not there is an error wrapping fs.ErrNotExist.
func DataPath(dataDir, rel string) (string, error) {
	if err := shared.CheckPath(rel); err != nil {
		return "", err
	}
	parts := strings.FieldsFunc(rel, func(r rune) bool { return r == '/' || r == '\\' })
	root, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return "", fmt.Errorf("data folder: %w", err)
	}
	p, err := filepath.EvalSymlinks(filepath.Join(root, filepath.Join(parts...)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no %s in the data folder: %w", rel, fs.ErrNotExist)
	}
	if err != nil {
		return "", err
	}
	if r, err := filepath.Rel(root, p); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s leads outside the data folder (to %s)", rel, p)
	}
	return p, nil
}

// importArgs are the import-weights arguments of an import run whose
// folder is dir; an earlier start's checkpoint is removed first.
func (m *Manager) importArgs(sub, dir string, r *shared.ImportRequest) ([]string, error) {
	if r == nil {
		return nil, errors.New("import: no source")
	}
	src, err := ImportSource(m.opt.DataDir, r.Source)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	out := layout.Run(dir).Path(importCheckpoint)
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	args := []string{sub, src, "--out", out}
	if r.Heads > 0 {
		args = append(args, "--heads", strconv.Itoa(r.Heads))
	}
	if r.From != "" {
		args = append(args, "--from", r.From)
	}
	if r.KeepChannels {
		args = append(args, "--keep-channels")
	}
	return args, nil
}

// finishImport registers an import run's checkpoint and adds the source
// record of its sidecar to the run's log, so the run page shows what
// was imported and how.
func (m *Manager) finishImport(ctx context.Context, j store.Run) error {
	if err := m.registerCheckpoint(ctx, j, importCheckpoint); err != nil {
		return err
	}
	model := layout.Run(m.abs(j.Dir)).Model(importCheckpoint)
	sc, err := readSidecar(model)
	if sc == nil {
		return err // none: the import failed, and its stderr says why
	}
	if sc.Source == nil {
		return fmt.Errorf("%s: no source record", ckpt.SidecarPath(model))
	}
	evs := make([]shared.Event, 0, 4)
	for _, ln := range sourceLines(*sc.Source) {
		evs = append(evs, logEvent("sslens", ln))
	}
	stored, err := m.st.AppendEvents(ctx, j.ID, evs, nil)
	if err != nil {
		return err
	}
	for _, ev := range stored {
		m.notify(ev)
	}
	return nil
}

// sourceLines words a checkpoint's source record for the run log.
func sourceLines(s ckpt.Source) []string {
	where := "the top level"
	if s.StateDict != "" {
		where = strconv.Quote(s.StateDict)
	}
	out := []string{
		fmt.Sprintf("source: %s (%s), SHA-256 %s; state dict at %s, prefix %q", s.File, s.Format, s.SHA256, where, s.Prefix),
		fmt.Sprintf("keys taken (%d): %s", len(s.Taken), keyList(s.Taken)),
		fmt.Sprintf("keys dropped (%d): %s", len(s.Dropped), keyList(s.Dropped)),
	}
	resample := "position embedding: kept (its grid fits)"
	if s.PosEmbed != "" {
		resample = "position embedding: " + s.PosEmbed
	}
	channels := "input channels: kept as stored"
	if s.Channels != "" {
		channels = "input channels: bands " + s.Channels + " on the source's R, G, B"
	}
	return append(out, resample+"; "+channels)
}

// keyList joins key names up to maxKeyList bytes and says how many more
// the sidecar lists.
func keyList(keys []string) string {
	var b strings.Builder
	for i, k := range keys {
		if b.Len()+len(k) > maxKeyList {
			fmt.Fprintf(&b, ", ... %d more in %s", len(keys)-i, ckpt.SidecarPath(layout.ModelFile))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	return b.String()
}
