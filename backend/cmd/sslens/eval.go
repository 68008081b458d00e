package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/ssl"
)

func init() {
	register(command{
		name:    "eval",
		summary: "evaluate a checkpoint on a split: accuracy, AUC, ROC, TPR at fixed FPR, intervals, kNN",
		usage: `--checkpoint C [--split test|val|train] [--data DIR] [--indices F] [--knn [--knn-labels N [--subset-seed S]]] [--json]

C is a model.safetensors, its folder, or a run folder (its checkpoints/last).
The dataset and splits default to those of the run that wrote C. Without a
classifier head (a pretrained backbone) only --knn applies. --knn also
classifies the split by DINO's weighted vote of the 20 nearest train
features (cosine, temperature 0.1, the reference project's); --knn-labels N
votes with only the N labelled train images a fine-tune on N labels with
finetune.subset_seed S uses, the few-label regime the results table
compares (with every train label, pixels alone already vote well). A checkpoint without normalisation
(imported weights not yet fine-tuned) is given the dataset's train split
statistics, as finetune gives them.`,
		run: func(fs *flag.FlagSet, args []string) error {
			return runEval(context.Background(), fs, args, processEnv())
		},
	})
}

// evalOutput is what --json prints.
type evalOutput struct {
	Checkpoint string       `json:"checkpoint"`
	Preset     string       `json:"preset"`
	Epoch      int          `json:"epoch"`
	Split      string       `json:"split"`
	Classifier *eval.Report `json:"classifier,omitempty"`
	KNN        *eval.Report `json:"knn,omitempty"`
	// KNNVoters is the number of labelled train images the kNN voted with.
	KNNVoters int `json:"knn_voters,omitempty"`
}

func runEval(ctx context.Context, fs *flag.FlagSet, args []string, e env) error {
	ckPath := fs.String("checkpoint", "", "model.safetensors, its folder, or a run folder (required)")
	splitFlag := fs.String("split", "test", "split to evaluate: test, val or train")
	dataDir := fs.String("data", "", "dataset `DIR` (default: the run's input.data path)")
	indices := fs.String("indices", "", "splits `FILE` (default: the run's, else DIR/splits.json or DIR/indices.pkl)")
	knn := fs.Bool("knn", false, "also evaluate a kNN classifier on the train features")
	knnLabels := fs.Int("knn-labels", 0, "with --knn: vote with `N` labelled train images, the fine-tuning subset of N labels (0: all)")
	subsetSeed := fs.Uint64("subset-seed", 0, "with --knn-labels: the subset `S`eed, as finetune.subset_seed")
	bootstrap := fs.Int("bootstrap", 1000, "bootstrap resamples for the 95% intervals (0: none)")
	asJSON := fs.Bool("json", false, "print the reports as JSON")
	device := registerDevice(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := checkDevice(*device, true); err != nil {
		return err
	}
	split, err := data.ParseSplit(*splitFlag)
	switch {
	case len(pos) > 0 || *ckPath == "":
		return usage(fs, "want --checkpoint C and no arguments")
	case err != nil:
		return usage(fs, "--split %q: want test, val or train", *splitFlag)
	case *knn && split == data.Train:
		return usage(fs, "--knn votes with the train features, so it needs --split val or test")
	case *knnLabels < 0 || *knnLabels > 0 && !*knn:
		return usage(fs, "--knn-labels %d: want a positive label count, with --knn", *knnLabels)
	case *bootstrap < 0:
		return usage(fs, "--bootstrap %d is negative", *bootstrap)
	}
	ck, err := ssl.LoadCheckpoint(*ckPath)
	if err != nil {
		return err
	}
	if !ck.HasHead && !*knn {
		return fmt.Errorf("%s has no classifier head (a pretrained backbone): evaluate it with --knn", ck.Path)
	}
	dir, splits, err := checkpointData(ck, *dataDir, *indices)
	if err != nil {
		return err
	}
	size := ck.Params.Preset.ImageSize
	if err := fillNorm(ck, dir, e.stderr, func() (augment.Normalization, error) { return ssl.StatsNormalization(dir, splits, size) }); err != nil {
		return err
	}
	set, err := ssl.LoadSet(dir, *splits.Split(split), size, ck.Norm)
	if err != nil {
		return err
	}
	m, err := e.inferenceModel(ck.Params, *device, 0)
	if err != nil {
		return err
	}
	defer m.Close()
	out := evalOutput{Checkpoint: ck.Path, Preset: ck.Sidecar.Preset, Epoch: ck.Sidecar.Epoch, Split: string(split)}
	opts := eval.Options{Threshold: 0.5, Bootstrap: *bootstrap}
	if ck.HasHead {
		progress, done := imageProgress(e, "score "+string(split))
		r, err := ssl.EvaluateSet(ctx, m, set, opts, progress)
		done()
		if err != nil {
			return err
		}
		out.Classifier = &r
	}
	if *knn {
		voters := splits.Train
		if *knnLabels > 0 {
			subs, err := data.DrawSubsets(splits.Train, []int{*knnLabels}, *subsetSeed)
			if err != nil {
				return fmt.Errorf("--knn-labels: %w", err)
			}
			voters = subs[0]
		}
		train, err := ssl.LoadSet(dir, voters, size, ck.Norm)
		if err != nil {
			return err
		}
		out.KNNVoters = train.Len()
		progress, done := imageProgress(e, "embed")
		r, err := ssl.EvaluateKNN(ctx, m, train, set, min(eval.KNNK, train.Len()), eval.KNNTemperature, opts, progress)
		done()
		if err != nil {
			return err
		}
		out.KNN = &r
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(e.stdout, "%s (%s, epoch %d) on %s, %d images\n", out.Checkpoint, out.Preset, out.Epoch, out.Split, set.Len())
	if out.Classifier != nil {
		fmt.Fprintf(e.stdout, "\n## Classifier\n\n%s", out.Classifier.Markdown())
	}
	if out.KNN != nil {
		voters := fmt.Sprintf("%d train features", out.KNNVoters)
		if *knnLabels > 0 {
			voters = fmt.Sprintf("the %d-label subset of subset seed %d", out.KNNVoters, *subsetSeed)
		}
		fmt.Fprintf(e.stdout, "\n## kNN (k %d, T %g, %s)\n\n%s", min(eval.KNNK, out.KNNVoters), eval.KNNTemperature, voters, out.KNN.Markdown())
	}
	return nil
}

// checkpointData returns the dataset folder and splits a checkpoint is
// evaluated on: the flags, else the run's config recorded in its sidecar,
// else the folder's own splits file.
func checkpointData(ck *ssl.Checkpoint, dirFlag, indicesFlag string) (string, data.Splits, error) {
	dir, indices := dirFlag, indicesFlag
	if ck.Config != nil {
		dir = cmp.Or(dir, ck.Config.Input.DataPath)
		if dirFlag == "" {
			indices = cmp.Or(indices, ck.Config.Input.Indices)
		}
	}
	if dir == "" {
		return "", data.Splits{}, fmt.Errorf("%s does not say which dataset it was trained on: pass --data DIR", ck.Path)
	}
	if _, err := os.Stat(dir); err != nil {
		return "", data.Splits{}, fmt.Errorf("dataset: %w", err)
	}
	path := cmp.Or(indices, data.SplitsFile(dir))
	if path == "" {
		return "", data.Splits{}, fmt.Errorf("%s has no splits.json or indices.pkl; pass --indices", dir)
	}
	s, err := data.ReadSplits(path)
	return dir, s, err
}
