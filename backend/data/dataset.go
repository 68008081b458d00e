package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Dataset is a dataset folder as found on disk: DIR/lenses and
// DIR/nonlenses, one image file per cutout, and for imported survey data
// DIR/unlabelled.
type Dataset struct {
	Dir     string
	Files   ClassFiles // image files (by extension) per class, sorted
	Other   []string   // DIR-relative entries of the class folders that are not image files; folders end in "/"
	Missing []Label    // lenses/ or nonlenses/ when they do not exist
}

// OpenDataset lists the class folders of dir. An absent lenses/ or
// nonlenses/ is recorded in Missing, not an error (an absent unlabelled/ is
// the rule); dir itself must exist.
func OpenDataset(dir string) (*Dataset, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("data: %s: not a folder", dir)
	}
	d := &Dataset{Dir: dir}
	for _, l := range Labels {
		entries, err := os.ReadDir(filepath.Join(dir, ClassDirs[l]))
		if errors.Is(err, fs.ErrNotExist) {
			if l != Unlabelled {
				d.Missing = append(d.Missing, l)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		var names []string
		for _, e := range entries {
			regular := e.Type().IsRegular()
			if e.Type()&fs.ModeSymlink != 0 { // linked datasets are common: follow
				st, err := os.Stat(filepath.Join(dir, ClassDirs[l], e.Name()))
				regular = err == nil && st.Mode().IsRegular()
			}
			if regular && IsImageName(e.Name()) {
				names = append(names, e.Name())
			} else if e.IsDir() {
				d.Other = append(d.Other, relName(l, e.Name())+"/")
			} else {
				d.Other = append(d.Other, relName(l, e.Name()))
			}
		}
		slices.Sort(names)
		d.Files.Set(l, names)
	}
	return d, nil
}

// Path returns the path of image name of class l.
func (d *Dataset) Path(l Label, name string) string {
	return filepath.Join(d.Dir, ClassDirs[l], name)
}

// Load reads the images cf names, lenses first, with their labels. The first
// bad image stops it with an error naming the file.
func (d *Dataset) Load(cf ClassFiles, opt ReadOptions) ([]Image, []Label, error) {
	ims := make([]Image, 0, cf.Len())
	labels := make([]Label, 0, cf.Len())
	err := d.each(cf, opt, func(l Label, im Image) {
		ims = append(ims, im)
		labels = append(labels, l)
	})
	if err != nil {
		return nil, nil, err
	}
	return ims, labels, nil
}

// each reads the images cf names in order, lenses first, and hands each to
// fn; it stops at the first bad image.
func (d *Dataset) each(cf ClassFiles, opt ReadOptions, fn func(Label, Image)) error {
	for _, l := range Labels {
		for _, name := range cf.Files(l) {
			im, _, err := readImage(d.Path(l, name), relName(l, name), opt)
			if err != nil {
				return err
			}
			fn(l, im)
		}
	}
	return nil
}

// relName is the DIR-relative name of image name of class l, as reports show
// it: lenses/6753.npy.
func relName(l Label, name string) string { return ClassDirs[l] + "/" + name }
