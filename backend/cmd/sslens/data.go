package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
)

func init() {
	register(command{
		name:    "data",
		summary: "check a dataset folder, cache its normalisation statistics, draw labelled subsets",
		usage: `check DIR [--splits F] [--subset F]... [--crop 32] [--nonfinite reject|zero] [--json]
       sslens data stats DIR [--splits F] [--crop 32] [--json]
       sslens data subsets DIR --sizes 300,600,1200 --seed N [--splits F] [--out DIR2]

DIR holds lenses/ and nonlenses/ with one (3,H,W) g,r,i image per file. The
splits file defaults to DIR/splits.json, else DIR/indices.pkl.
check exits 1 when it finds errors; arguments after DIR are subset files too.`,
		run: func(fs *flag.FlagSet, args []string) error { return runData(fs, args, os.Stdout) },
	})
}

// runData dispatches `sslens data SUBCOMMAND`, writing results to w.
func runData(fs *flag.FlagSet, args []string, w io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "check":
		return dataCheck(fs, args[1:], w)
	case "stats":
		return dataStats(fs, args[1:], w)
	case "subsets":
		return dataSubsets(fs, args[1:], w)
	}
	if strings.HasPrefix(args[0], "-") {
		if _, err := parseFlags(fs, args); err != nil {
			return err // -h prints the usage and returns flag.ErrHelp
		}
	}
	return usage(fs, "unknown subcommand %q (want check, stats or subsets)", args[0])
}

// stringList is a flag that may repeat.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func splitsFlag(fs *flag.FlagSet) *string {
	return fs.String("splits", "", "splits file, indices.pkl or splits.json (default DIR/splits.json, else DIR/indices.pkl)")
}

// loadSplits reads the --splits file, or the dataset's own; "" and no error
// when there is none and it is optional.
func loadSplits(dir, flagPath string, required bool) (*data.Splits, string, error) {
	path := flagPath
	if path == "" {
		path = data.SplitsFile(dir)
	}
	if path == "" {
		if required {
			return nil, "", fmt.Errorf("%s has no splits.json or indices.pkl; pass --splits", dir)
		}
		return nil, "", nil
	}
	s, err := data.ReadSplits(path)
	if err != nil {
		return nil, "", err
	}
	return &s, path, nil
}

func dataCheck(fs *flag.FlagSet, args []string, w io.Writer) error {
	splitsPath := splitsFlag(fs)
	var subsets stringList
	fs.Var(&subsets, "subset", "labelled subset file (train_indices_N.pkl or .json) to check against the splits; repeatable")
	crop := fs.Int("crop", 32, "centre crop in px (0 = none); smaller images are bad")
	nonfinite := fs.String("nonfinite", "reject", "NaN or Inf pixels: reject (the file is bad) or zero (replaced by 0)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usage(fs, "check needs DIR")
	}
	if *crop < 0 {
		return usage(fs, "--crop %d is negative", *crop)
	}
	dir := pos[0]
	subsets = append(subsets, pos[1:]...)
	opt := data.ScanOptions{ReadOptions: data.ReadOptions{Crop: *crop}}
	switch *nonfinite {
	case "reject":
	case "zero":
		opt.ReplaceNonFinite = true
	default:
		return usage(fs, "--nonfinite %q: want reject or zero", *nonfinite)
	}
	if opt.Splits, _, err = loadSplits(dir, *splitsPath, false); err != nil {
		return err
	}
	for _, path := range subsets {
		cf, err := data.ReadSubset(path)
		if err != nil {
			return err
		}
		opt.Subsets = append(opt.Subsets, data.Subset{Name: filepath.Base(path), Files: cf})
	}
	rep, err := data.Scan(dir, opt)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(w)
	}
	if err != nil {
		return err
	}
	if rep.Errors > 0 {
		return fmt.Errorf("%s: %d errors", dir, rep.Errors)
	}
	return nil
}

func dataStats(fs *flag.FlagSet, args []string, w io.Writer) error {
	splitsPath := splitsFlag(fs)
	crop := fs.Int("crop", 32, "centre crop in px (0 = none)")
	asJSON := fs.Bool("json", false, "print the statistics as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usage(fs, "stats needs exactly one DIR")
	}
	if *crop < 0 {
		return usage(fs, "--crop %d is negative", *crop)
	}
	dir := pos[0]
	s, _, err := loadSplits(dir, *splitsPath, true)
	if err != nil {
		return err
	}
	st, err := data.LoadStats(dir, *s, *crop)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(st)
	}
	fmt.Fprintf(w, "train split of %s: %d images, crop %d (cache %s)\n", dir, st.Count, st.Crop, layout.Dataset(dir).Path(layout.StatsFile))
	fmt.Fprintf(w, "%-5s %12s %12s %12s\n", "band", "mean", "std", "global std")
	for c, b := range data.Bands {
		fmt.Fprintf(w, "%-5s %12.6g %12.6g %12.6g\n", b, st.Mean[c], st.Std[c], st.GlobalStd[c])
	}
	_, err = fmt.Fprintln(w, "std is the mean of per-image standard deviations (the seed's, used for normalising).")
	return err
}

func dataSubsets(fs *flag.FlagSet, args []string, w io.Writer) error {
	splitsPath := splitsFlag(fs)
	sizesFlag := fs.String("sizes", "300,600,1200", "comma-separated even subset sizes, half lenses and half non-lenses")
	seed := fs.Uint64("seed", 0, "random seed; the same seed and train split give the same subsets")
	out := fs.String("out", "", "folder for train_indices_N.pkl and .json (default DIR)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usage(fs, "subsets needs exactly one DIR")
	}
	dir := pos[0]
	var sizes []int
	for _, f := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return usage(fs, "--sizes: %q is not a number", f)
		}
		sizes = append(sizes, n)
	}
	s, path, err := loadSplits(dir, *splitsPath, true)
	if err != nil {
		return err
	}
	// Subsets come from train only; that is leak-free only if train itself
	// shares nothing with val and test.
	if n := trainLeaks(*s); n > 0 {
		return fmt.Errorf("%s: %d train files are also in val or test; fix the splits first (sslens data check)", path, n)
	}
	subs, err := data.DrawSubsets(s.Train, sizes, *seed)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = dir
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for i, cf := range subs {
		base := filepath.Join(*out, fmt.Sprintf("train_indices_%d", sizes[i]))
		if err := data.WriteSubsetPickle(base+".pkl", cf); err != nil {
			return err
		}
		if err := data.WriteSubsetJSON(base+".json", cf); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s.pkl and .json: %d lenses, %d nonlenses from the train split of %s (seed %d)\n",
			base, len(cf.Lenses), len(cf.NonLenses), path, *seed)
	}
	return nil
}

// trainLeaks counts train files that val or test also name.
func trainLeaks(s data.Splits) int {
	other := map[string]bool{}
	for _, cf := range []data.ClassFiles{s.Val, s.Test} {
		for _, l := range data.Labels {
			for _, n := range cf.Files(l) {
				other[data.ClassDirs[l]+"/"+n] = true
			}
		}
	}
	n := 0
	for _, l := range data.Labels {
		for _, f := range s.Train.Files(l) {
			if other[data.ClassDirs[l]+"/"+f] {
				n++
			}
		}
	}
	return n
}
