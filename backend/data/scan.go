package data

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ScanOptions says what Scan checks besides the images themselves.
type ScanOptions struct {
	ReadOptions          // crop and non-finite handling applied to every image
	Splits      *Splits  // when set, checked against the files on disk
	Subsets     []Subset // labelled subsets, checked against Splits
}

// Subset is a named labelled subset, such as train_indices_300.pkl.
type Subset struct {
	Name  string
	Files ClassFiles
}

// Report is the result of Scan. Errors counts the problems that make a
// dataset unfit for training (every bad file, missing or empty class folder,
// missing or repeated split entry, name in both classes, leaking or
// unbalanced subset); Warnings counts files in no split.
type Report struct {
	Dir            string         `json:"dir"`
	Crop           int            `json:"crop"`
	Classes        []ClassReport  `json:"classes"`
	Bad            []BadFile      `json:"bad_files"`
	DuplicateNames []string       `json:"duplicate_names"` // in both class folders, or under both classes in the splits
	Splits         *SplitsReport  `json:"splits,omitempty"`
	Subsets        []SubsetReport `json:"subsets,omitempty"`
	Errors         int            `json:"errors"`
	Warnings       int            `json:"warnings"`
}

// ClassReport totals one class folder.
type ClassReport struct {
	Class   string `json:"class"`   // folder name
	Present bool   `json:"present"` // the folder exists
	// Optional marks lenses/ and nonlenses/ of an unlabelled dataset (one
	// with unlabelled/ cutouts, imported survey data), which needs neither.
	Optional bool `json:"optional,omitempty"`
	Good     int  `json:"good"`
	Bad      int  `json:"bad"`
	Replaced int  `json:"replaced_pixels"` // non-finite pixels set to 0 under ReplaceNonFinite
}

// BadFile is one unusable entry of a class folder.
type BadFile struct {
	File   string `json:"file"` // DIR-relative, e.g. lenses/6753.npy
	Reason string `json:"reason"`
}

// SplitsReport checks a Splits against the files on disk.
type SplitsReport struct {
	Sizes      []SplitSize `json:"sizes"`
	Missing    []SplitFile `json:"missing"`    // named in a split, absent from its class folder
	Duplicates []Duplicate `json:"duplicates"` // named more than once, within or across splits
	Unassigned []string    `json:"unassigned"` // images on disk in no split (a warning)
}

// SplitSize counts the names of one split.
type SplitSize struct {
	Split      string `json:"split"`
	Lenses     int    `json:"lenses"`
	NonLenses  int    `json:"nonlenses"`
	Unlabelled int    `json:"unlabelled,omitempty"`
}

// SplitFile is a DIR-relative file named by a split.
type SplitFile struct {
	Split string `json:"split"`
	File  string `json:"file"`
}

// Duplicate is a DIR-relative file named more than once; Splits lists every
// occurrence.
type Duplicate struct {
	File   string   `json:"file"`
	Splits []string `json:"splits"`
}

// SubsetReport checks one labelled subset. Without splits, the split counts
// are zero.
type SubsetReport struct {
	Name      string `json:"name"`
	Lenses    int    `json:"lenses"`
	NonLenses int    `json:"nonlenses"`
	Balanced  bool   `json:"balanced"`
	InTrain   int    `json:"in_train"`
	InVal     int    `json:"in_val"`  // leaked into validation
	InTest    int    `json:"in_test"` // leaked into test
	InNoSplit int    `json:"in_no_split"`
	Missing   int    `json:"missing"`  // absent from disk
	Repeated  int    `json:"repeated"` // names listed more than once
}

// Scan reads every file of dir's class folders and lists each bad one with
// its reason, then checks opt.Splits and opt.Subsets against the files found.
// Split and subset checks still run when the class folders are absent: the
// images are then reported missing. The error is only for an unreadable dir.
func Scan(dir string, opt ScanOptions) (*Report, error) {
	d, err := OpenDataset(dir)
	if err != nil {
		return nil, err
	}
	r := &Report{Dir: dir, Crop: opt.Crop, Bad: []BadFile{}}
	for _, f := range d.Other {
		reason := "not an image file (want .npy, .fits, .fit, .fts, .png, .jpg or .jpeg, optionally .gz)"
		if strings.HasSuffix(f, "/") {
			reason = "a folder inside a class folder"
		}
		r.Bad = append(r.Bad, BadFile{File: f, Reason: reason})
	}
	onDisk := map[string]bool{} // DIR-relative image files
	classes := []Label{Lens, NonLens}
	unlabelled := len(d.Files.Unlabelled) > 0
	if unlabelled {
		classes = append(classes, Unlabelled)
	}
	for _, l := range classes {
		cr := ClassReport{Class: ClassDirs[l], Present: !slices.Contains(d.Missing, l), Optional: unlabelled && l != Unlabelled}
		for _, f := range d.Other {
			if strings.HasPrefix(f, ClassDirs[l]+"/") {
				cr.Bad++
			}
		}
		for _, res := range readAll(d, l, d.Files.Files(l), opt.ReadOptions) {
			onDisk[res.file] = true
			if res.err != nil {
				cr.Bad++
				r.Bad = append(r.Bad, BadFile{File: res.file, Reason: res.err.Error()})
			} else {
				cr.Good++
				cr.Replaced += res.replaced
			}
		}
		r.Classes = append(r.Classes, cr)
	}
	slices.SortFunc(r.Bad, func(a, b BadFile) int { return strings.Compare(a.File, b.File) })

	lists := []ClassFiles{d.Files}
	if s := opt.Splits; s != nil {
		r.Splits = checkSplits(*s, d, onDisk)
		lists = append(lists, s.Train, s.Val, s.Test)
	}
	r.DuplicateNames = inBothClasses(lists...)
	for _, sub := range opt.Subsets {
		r.Subsets = append(r.Subsets, checkSubset(sub, opt.Splits, onDisk))
	}
	r.count()
	return r, nil
}

// inBothClasses returns the sorted names listed as a lens and as a non-lens.
func inBothClasses(cfs ...ClassFiles) []string {
	lens := map[string]bool{}
	for _, cf := range cfs {
		for _, n := range cf.Lenses {
			lens[n] = true
		}
	}
	both := map[string]bool{}
	for _, cf := range cfs {
		for _, n := range cf.NonLenses {
			if lens[n] {
				both[n] = true
			}
		}
	}
	return sortedKeys(both)
}

// scanned is the outcome of reading one image.
type scanned struct {
	file     string // DIR-relative
	replaced int
	err      error // the reason, without the file name
}

// readAll decodes the files of class l on every core, keeping their order.
func readAll(d *Dataset, l Label, files []string, opt ReadOptions) []scanned {
	out := make([]scanned, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(files); i = int(next.Add(1) - 1) {
				rel := relName(l, files[i])
				_, n, err := readImage(d.Path(l, files[i]), rel, opt)
				var fe *FileError
				if errors.As(err, &fe) {
					err = fe.Err
				}
				out[i] = scanned{file: rel, replaced: n, err: err}
			}
		})
	}
	wg.Wait()
	return out
}

func checkSplits(s Splits, d *Dataset, onDisk map[string]bool) *SplitsReport {
	sr := &SplitsReport{Missing: []SplitFile{}, Duplicates: []Duplicate{}, Unassigned: []string{}}
	where := map[string][]string{} // DIR-relative file -> splits naming it
	var order []string
	for _, name := range SplitNames {
		cf, sn := s.Split(name), string(name)
		sr.Sizes = append(sr.Sizes, SplitSize{Split: sn, Lenses: len(cf.Lenses), NonLenses: len(cf.NonLenses), Unlabelled: len(cf.Unlabelled)})
		for _, l := range Labels {
			for _, n := range cf.Files(l) {
				k := relName(l, n)
				if where[k] == nil {
					order = append(order, k)
					if !onDisk[k] {
						sr.Missing = append(sr.Missing, SplitFile{Split: sn, File: k})
					}
				}
				where[k] = append(where[k], sn)
			}
		}
	}
	for _, k := range order {
		if len(where[k]) > 1 {
			sr.Duplicates = append(sr.Duplicates, Duplicate{File: k, Splits: where[k]})
		}
	}
	for _, l := range Labels {
		for _, n := range d.Files.Files(l) {
			if where[relName(l, n)] == nil {
				sr.Unassigned = append(sr.Unassigned, relName(l, n))
			}
		}
	}
	return sr
}

// checkSubset counts a subset's balance, files missing on disk and, with
// splits, where its files lie.
func checkSubset(sub Subset, s *Splits, onDisk map[string]bool) SubsetReport {
	in := func(cf ClassFiles) map[string]bool {
		m := map[string]bool{}
		for _, l := range []Label{Lens, NonLens} {
			for _, n := range cf.Files(l) {
				m[relName(l, n)] = true
			}
		}
		return m
	}
	var train, val, test map[string]bool
	if s != nil {
		train, val, test = in(s.Train), in(s.Val), in(s.Test)
	}
	sr := SubsetReport{Name: sub.Name, Lenses: len(sub.Files.Lenses), NonLenses: len(sub.Files.NonLenses)}
	sr.Balanced = sr.Lenses == sr.NonLenses
	seen := map[string]bool{}
	for _, l := range []Label{Lens, NonLens} {
		for _, n := range sub.Files.Files(l) {
			k := relName(l, n)
			if seen[k] {
				sr.Repeated++
			}
			seen[k] = true
			switch {
			case s == nil:
			case train[k]:
				sr.InTrain++
			case val[k]:
				sr.InVal++
			case test[k]:
				sr.InTest++
			default:
				sr.InNoSplit++
			}
			if !onDisk[k] {
				sr.Missing++
			}
		}
	}
	return sr
}

// count fills Errors and Warnings.
func (r *Report) count() {
	e := len(r.Bad)
	for _, c := range r.Classes {
		if (!c.Present || c.Good+c.Bad == 0) && !c.Optional {
			e++
		}
	}
	// The same name in both class folders is legal (the reference data has
	// 205 such pairs; paths stay distinct), but anything keyed by bare file
	// name would confuse them, so it is reported as a warning.
	w := len(r.DuplicateNames)
	if r.Splits != nil {
		e += len(r.Splits.Missing) + len(r.Splits.Duplicates)
		w += len(r.Splits.Unassigned)
	}
	for _, s := range r.Subsets {
		for _, bad := range []bool{!s.Balanced, s.InVal+s.InTest > 0, s.InNoSplit > 0, s.Missing > 0, s.Repeated > 0} {
			if bad {
				e++
			}
		}
	}
	r.Errors, r.Warnings = e, w
}

// WriteText writes the report for people: totals first, then every problem.
// Files named in the splits of an absent class folder are summed up rather
// than listed (the JSON form lists them all).
func (r *Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.f("dataset %s (crop %d)\n", r.Dir, r.Crop)
	for _, c := range r.Classes {
		switch {
		case c.Optional && c.Good+c.Bad == 0:
			p.f("  %-10s none (an unlabelled dataset)\n", c.Class+":")
		case !c.Present:
			p.f("  %-10s folder missing\n", c.Class+":")
		case c.Good+c.Bad == 0:
			p.f("  %-10s empty (no files)\n", c.Class+":")
		default:
			p.f("  %-10s %d good, %d bad", c.Class+":", c.Good, c.Bad)
			if c.Replaced > 0 {
				p.f(", %d non-finite pixels replaced by 0", c.Replaced)
			}
			p.f("\n")
		}
	}
	if len(r.Bad) > 0 {
		p.f("bad files (%d):\n", len(r.Bad))
		for _, b := range r.Bad {
			p.f("  %s: %s\n", b.File, b.Reason)
		}
	}
	if len(r.DuplicateNames) > 0 {
		p.f("warning: names in both lenses and nonlenses (%d):\n", len(r.DuplicateNames))
		for _, n := range r.DuplicateNames {
			p.f("  %s\n", n)
		}
	}
	if s := r.Splits; s != nil {
		withUnlabelled := slices.ContainsFunc(s.Sizes, func(z SplitSize) bool { return z.Unlabelled > 0 })
		if withUnlabelled {
			p.f("splits (lenses/nonlenses/unlabelled):")
		} else {
			p.f("splits (lenses/nonlenses):")
		}
		for _, z := range s.Sizes {
			p.f(" %s %d/%d", z.Split, z.Lenses, z.NonLenses)
			if withUnlabelled {
				p.f("/%d", z.Unlabelled)
			}
		}
		p.f("\n")
		if len(s.Missing) > 0 {
			p.f("  named in a split but missing (%d):\n", len(s.Missing))
			absent := map[string]int{}
			for _, m := range s.Missing {
				if dir, _, _ := strings.Cut(m.File, "/"); r.classAbsent(dir) {
					absent[dir]++
					continue
				}
				p.f("    %s (%s)\n", m.File, m.Split)
			}
			for _, dir := range sortedKeys(absent) {
				p.f("    %s/ folder missing: all %d of its files\n", dir, absent[dir])
			}
		}
		if len(s.Duplicates) > 0 {
			p.f("  named more than once (%d):\n", len(s.Duplicates))
			for _, d := range s.Duplicates {
				p.f("    %s in %s\n", d.File, strings.Join(d.Splits, ", "))
			}
		}
		if len(s.Unassigned) > 0 {
			p.f("  warning: in no split (%d):\n", len(s.Unassigned))
			for _, u := range s.Unassigned {
				p.f("    %s\n", u)
			}
		}
	}
	for _, s := range r.Subsets {
		bal := "balanced"
		if !s.Balanced {
			bal = "UNBALANCED"
		}
		p.f("subset %s: %d images (%d lenses, %d nonlenses, %s)", s.Name, s.Lenses+s.NonLenses, s.Lenses, s.NonLenses, bal)
		if r.Splits != nil {
			p.f("; in train %d, in val %d, in test %d, in no split %d", s.InTrain, s.InVal, s.InTest, s.InNoSplit)
		} else {
			p.f("; no splits to check it against")
		}
		if s.Missing > 0 {
			p.f(", missing on disk %d", s.Missing)
		}
		if s.Repeated > 0 {
			p.f(", repeated %d", s.Repeated)
		}
		p.f("\n")
	}
	p.f("%d errors, %d warnings\n", r.Errors, r.Warnings)
	return p.err
}

func (r *Report) classAbsent(dir string) bool {
	for _, c := range r.Classes {
		if c.Class == dir {
			return !c.Present
		}
	}
	return false
}

// printer keeps the first write error so WriteText can print unconditionally.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
