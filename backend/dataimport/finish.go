package dataimport

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/sky"
)

// finish settles the classes, finds cutouts of one object or one patch of
// sky, makes or reads the splits, computes the normalisation statistics and
// writes splits.json, metadata.csv and the report.
func (imp *importer) finish() error {
	imp.settleClasses()
	if len(imp.cuts) == 0 {
		return fmt.Errorf("dataimport: %s: no cutout could be imported (%d files, %d bad, %d duplicates)%s",
			imp.rep.Source, imp.rep.Files, len(imp.rep.Bad), len(imp.rep.ContentDuplicates), firstBad(imp.rep.Bad))
	}
	groups := imp.findNeighbours()
	splitOf, err := imp.splits(groups)
	if err != nil {
		return err
	}
	var sp data.Splits
	for i, c := range imp.cuts {
		if name := splitOf[i]; name != "" {
			cf := sp.Split(name)
			cf.Set(c.label, append(cf.Files(c.label), c.file))
		}
	}
	imp.rep.Splits = map[data.SplitName]Count{}
	for _, name := range data.SplitNames {
		cf := sp.Split(name)
		imp.rep.Splits[name] = Count{Lenses: len(cf.Lenses), NonLenses: len(cf.NonLenses), Unlabelled: len(cf.Unlabelled)}
	}
	if sp.Train.Len() == 0 {
		return fmt.Errorf("dataimport: %s: no cutout falls in the train split", imp.rep.Source)
	}
	if err := data.WriteSplitsJSON(filepath.Join(imp.dir, layout.SplitsJSON), sp); err != nil {
		return fmt.Errorf("dataimport: %w", err)
	}
	if err := imp.writeMetadata(splitOf); err != nil {
		return err
	}
	if imp.provenance != nil {
		if err := os.WriteFile(filepath.Join(imp.dir, layout.ProvenanceFile), imp.provenance, 0o644); err != nil {
			return fmt.Errorf("dataimport: %w", err)
		}
		imp.rep.Provenance = layout.ProvenanceFile
	}
	imp.rep.Stats = imp.stats(splitOf)
	if err := data.SaveStats(imp.dir, sp, imp.rep.Stats); err != nil {
		return fmt.Errorf("dataimport: statistics: %w", err)
	}
	imp.rep.Seconds = time.Since(imp.start).Seconds()
	return imp.rep.write(imp.dir)
}

// stats merges the train cutouts' moments in the order data.ComputeStats
// reads them (class by class, each class's train list in cut order, as
// finish builds it), so the numbers are those training would compute.
func (imp *importer) stats(splitOf []data.SplitName) data.Stats {
	return data.StatsOf(func(yield func(data.Moments) bool) {
		for _, l := range data.Labels {
			for i, c := range imp.cuts {
				if c.label == l && splitOf[i] == data.Train && !yield(c.moments) {
					return
				}
			}
		}
	}, imp.opt.Crop)
}

// firstBad says why the first bad file was refused, for an import that
// imported nothing.
func firstBad(bad []BadFile) string {
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("; the first, %s: %s", bad[0].File, bad[0].Reason)
}

// settleClasses makes the import labelled when any cutout lay under lenses/
// or nonlenses/; the others are then refused, since a labelled dataset has
// no unlabelled cutouts.
func (imp *importer) settleClasses() {
	labelled := slices.ContainsFunc(imp.cuts, func(c cutout) bool { return c.labelled })
	imp.rep.Labelled = labelled
	if labelled {
		kept := imp.cuts[:0]
		for _, c := range imp.cuts {
			if !c.labelled {
				os.Remove(filepath.Join(imp.dir, data.ClassDirs[c.label], c.file))
				imp.bad(c.source, "not under a lenses/ or nonlenses/ folder, in an import whose other cutouts are")
				continue
			}
			kept = append(kept, c)
		}
		imp.cuts = kept
		os.Remove(filepath.Join(imp.dir, layout.UnlabelledDir))
	}
	for _, c := range imp.cuts {
		switch c.label {
		case data.Lens:
			imp.rep.Lenses++
		case data.NonLens:
			imp.rep.NonLenses++
		default:
			imp.rep.Unlabelled++
		}
	}
	imp.rep.Imported = len(imp.cuts)
}

// findNeighbours reports the pairs of cutouts closer than SameObject and
// returns the groups of cutouts linked by separations below GroupRadius
// (each cutout's group index).
func (imp *importer) findNeighbours() []int {
	var placed []int
	for i, c := range imp.cuts {
		if c.pos != nil {
			placed = append(placed, i)
		}
	}
	imp.rep.Positioned = len(placed)
	slices.SortFunc(placed, func(a, b int) int { return cmp.Compare(imp.cuts[a].pos.Dec, imp.cuts[b].pos.Dec) })
	parent := make([]int, len(imp.cuts))
	for i := range parent {
		parent[i] = i
	}
	var root func(int) int
	root = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	band := imp.opt.GroupRadius / 3600
	for k, i := range placed {
		a := imp.cuts[i]
		for _, j := range placed[k+1:] {
			b := imp.cuts[j]
			if b.pos.Dec-a.pos.Dec > band {
				break
			}
			sep := sky.Separation(*a.pos, *b.pos)
			if sep > imp.opt.GroupRadius {
				continue
			}
			if sep <= imp.opt.SameObject {
				x, y := a, b
				if j < i {
					x, y = b, a
				}
				imp.rep.SameObject = append(imp.rep.SameObject, Pair{A: x.key(), B: y.key(), Arcsec: sep})
			}
			parent[root(i)] = root(j)
		}
	}
	slices.SortFunc(imp.rep.SameObject, func(x, y Pair) int { return cmp.Or(cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B)) })
	groups := make([]int, len(imp.cuts))
	sizes := map[int]int{}
	for i := range groups {
		groups[i] = root(i)
		sizes[groups[i]]++
	}
	for _, n := range sizes {
		if n > 1 {
			imp.rep.Groups++
			imp.rep.Grouped += n
		}
	}
	return groups
}

// splits returns each cutout's split: from the source's splits file when a
// labelled source has one beside its class folders, else drawn.
func (imp *importer) splits(groups []int) ([]data.SplitName, error) {
	if file, ok := imp.sourceSplits(); ok {
		return imp.givenSplits(file, groups)
	}
	imp.rep.SplitsFrom = "drawn"
	return drawSplits(imp.cuts, groups, imp.opt.Fractions, imp.opt.Seed), nil
}

// sourceSplits finds a splits file (indices.pkl or splits.json) in the
// folder holding a labelled source's lenses/ and nonlenses/; with several
// class roots or none there is none to use.
func (imp *importer) sourceSplits() (entry, bool) {
	if !imp.rep.Labelled {
		return entry{}, false
	}
	roots := map[string]bool{}
	for _, c := range imp.cuts {
		_, rel, _ := classOf(c.source)
		roots[path.Dir(c.source[:len(c.source)-len(rel)-1])] = true
	}
	if len(roots) != 1 {
		return entry{}, false
	}
	var root string
	for r := range roots {
		root = r
	}
	for _, name := range []string{layout.SplitsJSON, layout.SplitsPickle} {
		for _, e := range imp.splitFiles {
			if path.Dir(e.path) == root && path.Base(e.path) == name {
				return e, true
			}
		}
	}
	return entry{}, false
}

// givenSplits maps a source's splits file onto the imported cutouts by
// their canonical names and reports what it leaves out and which groups
// of neighbours it splits.
func (imp *importer) givenSplits(file entry, groups []int) ([]data.SplitName, error) {
	tmp, err := os.CreateTemp("", "sslens-splits-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(file.body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	sp, err := data.ReadSplits(tmp.Name())
	if err != nil {
		var why error = err
		if u := errors.Unwrap(err); u != nil {
			why = u
		}
		return nil, fmt.Errorf("dataimport: %s: %v", file.path, why)
	}
	imp.rep.SplitsFrom = file.path
	index := map[string]int{}
	for i, c := range imp.cuts {
		index[c.key()] = i
	}
	out := make([]data.SplitName, len(imp.cuts))
	for _, name := range data.SplitNames {
		cf := sp.Split(name)
		for _, l := range data.Labels {
			for _, f := range cf.Files(l) {
				key := data.ClassDirs[l] + "/" + canonicalName(f)
				i, ok := index[key]
				switch {
				case !ok:
					imp.rep.ListedNotImported++
				case out[i] != "":
					return nil, fmt.Errorf("dataimport: %s: %s is in both %s and %s", file.path, key, out[i], name)
				default:
					out[i] = name
				}
			}
		}
	}
	bySplit := map[int]data.SplitName{}
	for i, s := range out {
		if s == "" {
			imp.rep.InNoSplit++
			continue
		}
		if prev, ok := bySplit[groups[i]]; ok && prev != s {
			imp.rep.Straddling++
		}
		bySplit[groups[i]] = s
	}
	return out, nil
}

// drawSplits assigns whole groups of neighbours to splits, class by class
// (a group with a lens counts as lenses, else one with a non-lens as
// non-lenses), each group in turn to the split furthest below its share.
// The order of the groups is a hash of the seed and their first cutout's
// name, so the splits depend on the seed and the names, not on the order
// the source listed the files in.
func drawSplits(cuts []cutout, groups []int, fr [3]float64, seed uint64) []data.SplitName {
	members := map[int][]int{}
	for i, g := range groups {
		members[g] = append(members[g], i)
	}
	strata := map[data.Label][]int{}
	for g, m := range members {
		l := data.Unlabelled
		for _, i := range m {
			if cuts[i].label == data.Lens || (cuts[i].label == data.NonLens && l == data.Unlabelled) {
				l = cuts[i].label
			}
		}
		strata[l] = append(strata[l], g)
	}
	out := make([]data.SplitName, len(cuts))
	for _, l := range data.Labels {
		gs := strata[l]
		order := make(map[int]uint64, len(gs))
		for _, g := range gs {
			name := cuts[slices.MinFunc(members[g], func(a, b int) int { return cmp.Compare(cuts[a].key(), cuts[b].key()) })].key()
			h := fnv.New64a()
			binary.Write(h, binary.LittleEndian, seed)
			h.Write([]byte(name))
			order[g] = h.Sum64()
		}
		slices.SortFunc(gs, func(a, b int) int { return cmp.Compare(order[a], order[b]) })
		var counts [3]float64
		total := 0.0
		for _, g := range gs {
			size := float64(len(members[g]))
			total += size
			best, most := 0, -1e300
			for s := range 3 {
				if fr[s] == 0 {
					continue
				}
				if deficit := fr[s]*total - counts[s]; deficit > most {
					best, most = s, deficit
				}
			}
			counts[best] += size
			for _, i := range members[g] {
				out[i] = data.SplitNames[best]
			}
		}
	}
	return out
}

// writeMetadata writes metadata.csv: each cutout's split, size, source,
// OBJECT, position and content hash, one row at a time.
func (imp *importer) writeMetadata(splitOf []data.SplitName) error {
	m := layout.Metadata{Params: []string{"ra", "dec", "height", "width"}, Decimals: map[string]int{"ra": 7, "dec": 7, "height": 0, "width": 0},
		Text: []string{"source", "object", "sha256", "position_from"}}
	rows := func(yield func(layout.ImageMeta) bool) {
		for i, c := range imp.cuts {
			row := layout.ImageMeta{File: c.file, Class: data.ClassDirs[c.label], Split: string(splitOf[i]),
				Params: map[string]float64{"height": float64(c.h), "width": float64(c.w)},
				Text:   map[string]string{"source": c.source, "object": c.object, "sha256": c.sha, "position_from": string(c.from)}}
			if c.pos != nil {
				row.Params["ra"], row.Params["dec"] = c.pos.RA, c.pos.Dec
			}
			if !yield(row) {
				return
			}
		}
	}
	if err := layout.Dataset(imp.dir).WriteMetadataRows(m, rows); err != nil {
		return fmt.Errorf("dataimport: %w", err)
	}
	return nil
}

// isSplitsFile reports whether a base name is a splits file an import reads.
func isSplitsFile(base string) bool { return base == layout.SplitsJSON || base == layout.SplitsPickle }
