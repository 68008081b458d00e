// Package scoring scores a survey's worth of cutouts with a classifier in
// bounded memory: it streams the inputs (folders walked, list files read,
// globs matched, never all held at once), decodes them on every core while
// the model runs, writes each result as it comes in input order (so an
// interrupted run resumes by skipping what it wrote), and ranks the
// results by an external merge sort. A run may be one shard of several
// (input k goes to shard k mod n), and shards' rankings merge into one.
package scoring

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/data"
)

// Inputs enumerates cutout paths in a fixed order, calling yield for each
// until it returns an error: each argument is a file (kept as given), a
// folder (its image files, walked depth first in name order), or a glob
// (a pattern with *, ? or [, matched while walking the folder before its
// first wildcard, in name order); each list file holds one path per line
// (blank lines and # comments skipped). The same arguments give the same
// sequence, which resuming and sharding rely on.
func Inputs(args, lists []string, yield func(path string) error) error {
	for _, a := range args {
		var err error
		switch st, statErr := os.Stat(a); {
		case statErr == nil && st.IsDir():
			err = walk(a, func(p string) bool { return data.IsImageName(p) }, yield)
		case statErr != nil && strings.ContainsAny(a, "*?["):
			err = glob(a, yield)
		default:
			err = yield(a) // a missing file is reported as its result
		}
		if err != nil {
			return err
		}
	}
	for _, l := range lists {
		if err := readList(l, yield); err != nil {
			return err
		}
	}
	return nil
}

// walk yields the files (and links) under root that keep accepts, depth first
// in name order; a folder is read one at a time, so memory follows the
// widest folder, not the tree.
func walk(root string, keep func(string) bool, yield func(string) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("scoring: %w", err)
		}
		if isFile(d) && keep(p) {
			return yield(p)
		}
		return nil
	})
}

// isFile reports whether a walked entry is a file or a link, which is
// read through (a dangling one is reported as its result).
func isFile(d fs.DirEntry) bool { return d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 }

// glob yields the files matching pattern in name order, walking the
// folder before its first wildcard no deeper than the pattern reaches.
func glob(pattern string, yield func(string) error) error {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return fmt.Errorf("scoring: pattern %q: %w", pattern, err)
	}
	sep := string(filepath.Separator)
	root := pattern[:strings.IndexAny(pattern, "*?[")]
	root = root[:strings.LastIndex(root, sep)+1]
	if root == "" {
		root = "."
	}
	depth := strings.Count(pattern, sep)
	found := false
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return fmt.Errorf("scoring: %w", err)
		case d.IsDir():
			if p != root && strings.Count(p, sep) >= depth {
				return filepath.SkipDir
			}
		case isFile(d):
			if ok, _ := filepath.Match(pattern, p); ok {
				found = true
				return yield(p)
			}
		}
		return nil
	})
	if err == nil && !found {
		return fmt.Errorf("scoring: no file matches %q", pattern)
	}
	return err
}

// readList yields the paths of a list file, one per line; relative ones
// are taken from the list's folder, so that a list kept beside its
// cutouts names the same files wherever it is read from.
func readList(path string, yield func(string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("scoring: list: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for line := 1; sc.Scan(); line++ {
		p := strings.TrimSpace(sc.Text())
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		if err := yield(p); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("scoring: list %s: %w", path, err)
	}
	return nil
}
