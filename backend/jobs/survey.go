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

	"github.com/sslens/sslens/shared"
)

// MaxShards bounds a score-survey's shards: beyond it the merge opens more
// files at once than a default descriptor limit allows.
const MaxShards = 512

// CheckSurvey checks a score-survey request against the data folder
// dataDir: every path and list must lie inside it (a glob's folder before
// its first wildcard must), and shards need a cluster (onCluster).
// Problems come back as shared.FieldError values (joined), keyed
// survey.paths, survey.lists and survey.shards.
func CheckSurvey(dataDir string, r shared.SurveyRequest, onCluster bool) error {
	var errs []error
	if len(r.Paths)+len(r.Lists) == 0 {
		errs = append(errs, shared.FieldError{Key: "survey.paths", Message: "give a folder, file or glob of cutouts in the data folder, or a list file"})
	}
	for _, p := range r.Paths {
		if err := checkSurveyPath(dataDir, p); err != nil {
			errs = append(errs, shared.FieldError{Key: "survey.paths", Message: err.Error()})
		}
	}
	for _, l := range r.Lists {
		p, err := DataPath(dataDir, l)
		if err == nil {
			if st, serr := os.Stat(p); serr != nil || !st.Mode().IsRegular() {
				err = fmt.Errorf("%s is not a file", l)
			}
		}
		if err != nil {
			errs = append(errs, shared.FieldError{Key: "survey.lists", Message: err.Error()})
		}
	}
	switch {
	case r.Shards < 0 || r.Shards > MaxShards:
		errs = append(errs, shared.FieldErrorf("survey.shards", "%d shards: want 1 to %d", r.Shards, MaxShards))
	case r.Shards > 1 && !onCluster:
		errs = append(errs, shared.FieldErrorf("survey.shards", "%d shards: shards are Slurm jobs, and this server runs its jobs here (one job uses every core)", r.Shards))
	}
	return errors.Join(errs...)
}

// checkSurveyPath checks one of a survey's paths: a file or folder in the
// data folder, or a glob whose folder before the first wildcard is one.
func checkSurveyPath(dataDir, p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("an empty path")
	}
	w := strings.IndexAny(p, "*?[")
	if w < 0 {
		_, err := DataPath(dataDir, p)
		return err
	}
	if _, err := filepath.Match(p, ""); err != nil {
		return fmt.Errorf("pattern %q: %w", p, err)
	}
	if err := shared.CheckPath(p); err != nil {
		return err
	}
	dir := "."
	if k := strings.LastIndexAny(p[:w], `/\`); k > 0 {
		dir = p[:k]
	}
	d, err := DataPath(dataDir, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pattern %q: no folder %s in the data folder", p, dir)
	}
	if err != nil {
		return err
	}
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		return fmt.Errorf("pattern %q: %s is not a folder", p, dir)
	}
	return nil
}

// surveyArgs are the score arguments of a score-survey run whose folder
// is dir: the run folder is the output, which a start after the first
// continues; on Slurm with shards, the command submits them itself.
func (m *Manager) surveyArgs(ctx context.Context, sub, dir string, p Params) ([]string, error) {
	c, err := m.st.Checkpoint(ctx, p.Checkpoint)
	if err != nil {
		return nil, err
	}
	args := []string{sub, "--checkpoint", m.abs(c.Path), "--out", dir}
	if sl, ok := m.ex.(*Slurm); ok && p.Cutouts.Shards > 1 {
		args = append(args, "--shards", strconv.Itoa(p.Cutouts.Shards))
		args = append(args, sl.fanOutFlags()...)
	} else {
		args = append(args, "--resume")
	}
	for _, l := range p.Cutouts.Lists {
		args = append(args, "--list", m.abs(l))
	}
	for _, in := range p.Cutouts.Paths {
		args = append(args, m.abs(in))
	}
	return args, nil
}

// OnCluster reports whether jobs run on a cluster, where a run may fan
// out over jobs of its own (survey shards, reproduce cells).
func (m *Manager) OnCluster() bool {
	_, ok := m.ex.(*Slurm)
	return ok
}
