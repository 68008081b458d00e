package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sbinet/npyio/npy"
	"gonum.org/v1/gonum/mat"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/ssl"
)

func init() {
	register(command{
		name:    "embed",
		summary: "write the CLS embeddings of a dataset's images, or of listed files, to .npy or .csv, for similarity search",
		usage: `--checkpoint C --out F.npy|F.csv [--data DIR] [--indices F] [--split all|train|val|test] [--norm-from DIR] [FILE|DIR...]

The embedding of an image is the class token after the backbone's final
norm, for its centre crop normalised as the model was trained. F.npy holds a
float64 (N, D) array, row i for line i of F.names.txt; F.csv holds one row
per image: name, label (1 lens, 0 non-lens, -1 unknown), then the D
features.

Without arguments the images are a dataset's, named DIR-relative (lenses/
first): --split all (the default) embeds every image in DIR's class
folders; the others need the splits file. With FILE or DIR arguments the
images are those files (and the image files directly inside each DIR), read
as score reads them, named as given and labelled -1; --data, --indices and
--split do not apply then, and a file that cannot be read stops the command
with an error naming it.

A checkpoint without normalisation (imported weights not yet fine-tuned)
is given the train split statistics of the dataset embedded, or of
--norm-from DIR; FILE arguments need --norm-from then.`,
		run: func(fs *flag.FlagSet, args []string) error {
			return runEmbed(context.Background(), fs, args, processEnv())
		},
	})
}

func runEmbed(ctx context.Context, fs *flag.FlagSet, args []string, e env) error {
	ckPath := fs.String("checkpoint", "", "model.safetensors, its folder, or a run folder (required)")
	out := fs.String("out", "", "output `FILE`, .npy or .csv (required)")
	dataDir := fs.String("data", "", "dataset `DIR` (default: the run's input.data path)")
	indices := fs.String("indices", "", "splits `FILE` for --split train, val or test (default: the run's, else DIR's)")
	splitFlag := fs.String("split", "all", "images to embed: all, train, val or test")
	device := registerDevice(fs)
	normFrom := fs.String("norm-from", "", "dataset `DIR` whose train split normalises the images when the checkpoint carries no normalisation (imported weights)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := checkDevice(*device, true); err != nil {
		return err
	}
	var split data.SplitName // "": all
	if *splitFlag != "all" {
		split, err = data.ParseSplit(*splitFlag)
	}
	ext := strings.ToLower(filepath.Ext(*out))
	switch {
	case *ckPath == "" || *out == "":
		return usage(fs, "want --checkpoint C and --out F")
	case ext != ".npy" && ext != ".csv":
		return usage(fs, "--out %s: want a .npy or .csv file", *out)
	case err != nil:
		return usage(fs, "--split %q: want all, train, val or test", *splitFlag)
	case len(pos) > 0 && (*dataDir != "" || *indices != "" || split != ""):
		return usage(fs, "FILE arguments exclude --data, --indices and --split")
	}
	ck, err := ssl.LoadCheckpoint(*ckPath)
	if err != nil {
		return err
	}
	if *normFrom != "" {
		err := fillNorm(ck, *normFrom, e.stderr, func() (augment.Normalization, error) {
			return datasetNormalization(*normFrom, ck.Params.Preset.ImageSize)
		})
		if err != nil {
			return err
		}
	}
	var set *ssl.Set
	switch {
	case len(pos) > 0 && !hasNorm(ck):
		return fmt.Errorf("%s carries no normalisation (imported weights not yet fine-tuned): pass --norm-from DIR, a dataset whose train split gives it, or embed a dataset with --data DIR", ck.Path)
	case len(pos) > 0:
		set, err = fileSet(ck, pos)
	default:
		set, err = datasetSet(ck, *dataDir, *indices, split, e.stderr)
	}
	if err != nil {
		return err
	}
	m, err := e.inferenceModel(ck.Params, *device, 0)
	if err != nil {
		return err
	}
	defer m.Close()
	progress, done := imageProgress(e, "embed")
	feats, err := ssl.Features(ctx, m, set, progress)
	done()
	if err != nil {
		return err
	}
	if ext == ".npy" {
		names := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".names.txt"
		if err := writeEmbeddingsNPY(*out, names, set.Names, feats); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %d embeddings of %d features to %s, names in %s\n", len(feats), len(feats[0]), *out, names)
		return nil
	}
	if err := writeEmbeddingsCSV(*out, set, feats); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %d embeddings of %d features to %s\n", len(feats), len(feats[0]), *out)
	return nil
}

// datasetSet loads the images of a dataset folder (dirFlag, else the
// run's) to embed: those of split, or every image in its class folders
// when split is "". A checkpoint without normalisation gets the folder's
// train split statistics, said on w.
func datasetSet(ck *ssl.Checkpoint, dirFlag, indices string, split data.SplitName, w io.Writer) (*ssl.Set, error) {
	var dir string
	var files data.ClassFiles
	size := ck.Params.Preset.ImageSize
	var stats func() (augment.Normalization, error)
	if split == "" {
		dir = dirFlag
		if dir == "" && ck.Config != nil {
			dir = ck.Config.Input.DataPath
		}
		if dir == "" {
			return nil, fmt.Errorf("%s does not say which dataset it was trained on: pass --data DIR", ck.Path)
		}
		ds, err := data.OpenDataset(dir)
		if err != nil {
			return nil, err
		}
		files = ds.Files
		stats = func() (augment.Normalization, error) { return datasetNormalization(dir, size) }
	} else {
		var splits data.Splits
		var err error
		if dir, splits, err = checkpointData(ck, dirFlag, indices); err != nil {
			return nil, err
		}
		files = *splits.Split(split)
		stats = func() (augment.Normalization, error) { return ssl.StatsNormalization(dir, splits, size) }
	}
	if files.Len() == 0 {
		return nil, fmt.Errorf("%s: no images to embed (split %s)", dir, cmp.Or(string(split), "all"))
	}
	if err := fillNorm(ck, dir, w, stats); err != nil {
		return nil, err
	}
	return ssl.LoadSet(dir, files, size, ck.Norm)
}

// fileSet loads the files args name (each DIR's image files) to embed,
// unlabelled (-1) and named as given; the first that cannot be read or
// has the wrong shape fails the whole set, named in the error.
func fileSet(ck *ssl.Checkpoint, args []string) (*ssl.Set, error) {
	files, err := expandFiles(args)
	if err != nil {
		return nil, err
	}
	size := ck.Params.Preset.ImageSize
	set := ssl.NewSet(size)
	for _, f := range files {
		im, err := data.ReadImage(f, data.ReadOptions{Crop: size})
		if err == nil {
			err = set.Add(f, -1, im, ck.Norm)
		}
		if err != nil {
			return nil, err // data and ssl errors name the file
		}
	}
	return set, nil
}

// writeEmbeddingsNPY writes feats as a float64 (N, D) .npy (npyio writes
// 2-d arrays from gonum matrices) and the names, one per line.
func writeEmbeddingsNPY(path, namesPath string, names []string, feats [][]float32) error {
	d := len(feats[0])
	m := mat.NewDense(len(feats), d, nil)
	for i, f := range feats {
		for j, v := range f {
			m.Set(i, j, float64(v))
		}
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return npy.Write(w, m) }); err != nil {
		return err
	}
	return atomicfile.WriteBytes(namesPath, []byte(strings.Join(names, "\n")+"\n"))
}

// writeEmbeddingsCSV writes name, label, f0 ... f(D-1) per image.
func writeEmbeddingsCSV(path string, set *ssl.Set, feats [][]float32) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		header := []string{"name", "label"}
		for j := range feats[0] {
			header = append(header, "f"+strconv.Itoa(j))
		}
		cw.Write(header)
		row := make([]string, len(header))
		for i, f := range feats {
			row[0], row[1] = set.Names[i], strconv.Itoa(set.Labels[i])
			for j, v := range f {
				row[2+j] = strconv.FormatFloat(float64(v), 'g', -1, 32)
			}
			cw.Write(row)
		}
		cw.Flush()
		return cw.Error()
	})
}
