package main

import (
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
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/ssl"
)

func init() {
	register(command{
		name:    "embed",
		summary: "write the CLS embeddings of a dataset's images to .npy or .csv, for similarity search",
		usage: `--checkpoint C --out F.npy|F.csv [--data DIR] [--indices F] [--split all|train|val|test]

The embedding of an image is the class token after the backbone's final
norm, for its centre crop normalised as the model was trained. F.npy holds a
float64 (N, D) array, row i for line i of F.names.txt (dataset-relative
names, lenses/ first); F.csv holds one row per image: name, label (1 lens,
0 non-lens), then the D features. --split all (the default) embeds every
image in DIR's class folders; the others need the splits file.`,
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
	split := fs.String("split", "all", "images to embed: all, train, val or test")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	ext := strings.ToLower(filepath.Ext(*out))
	switch {
	case len(pos) > 0 || *ckPath == "" || *out == "":
		return usage(fs, "want --checkpoint C and --out F, and no arguments")
	case ext != ".npy" && ext != ".csv":
		return usage(fs, "--out %s: want a .npy or .csv file", *out)
	case *split != "all" && *split != "train" && *split != "val" && *split != "test":
		return usage(fs, "--split %q: want all, train, val or test", *split)
	}
	ck, err := ssl.LoadCheckpoint(*ckPath)
	if err != nil {
		return err
	}
	var dir string
	var files data.ClassFiles
	if *split == "all" {
		dir = *dataDir
		if dir == "" && ck.Config != nil {
			dir = ck.Config.Input.DataPath
		}
		if dir == "" {
			return fmt.Errorf("%s does not say which dataset it was trained on: pass --data DIR", ck.Path)
		}
		ds, err := data.OpenDataset(dir)
		if err != nil {
			return err
		}
		files = ds.Files
	} else {
		var splits data.Splits
		if dir, splits, err = checkpointData(ck, *dataDir, *indices); err != nil {
			return err
		}
		cf, _ := splits.Split(*split)
		files = *cf
	}
	if files.Len() == 0 {
		return fmt.Errorf("%s: no images to embed (split %s)", dir, *split)
	}
	set, err := ssl.LoadSet(dir, files, ck.Params.Preset.ImageSize, ck.Norm)
	if err != nil {
		return err
	}
	m, err := e.newModel(ck.Params, modelOptions{Batch: 64})
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
