// Package ssl trains Vision Transformers on lensing cutouts. It holds the
// training loop, what it drives (the classifier and the DINO, iBOT and
// SimSiam methods), their data preparation, checkpoints and reports; the
// network itself (a Gorgonia graph) lives in backend/nn and is reached
// through the small Model interface, so the classifier runs unchanged on a
// stand-in model in tests (backend/ssl/ssltest). The run folder's names and
// its metrics.jsonl and report.json codecs are backend/layout's.
//
// # One loop
//
// Every run, classifier or pretraining, goes through the same loop
// (loop.go): it owns the epochs, the shuffling generator, the resume skip
// into an interrupted epoch, stopping on a cancelled context and the
// checkpoint cadence, and drives a small stepper interface (one optimiser
// step, the end of an epoch, a checkpoint) that ClassifierRun and
// PretrainRun implement.
//
// # Classifier runs
//
// NewClassifierRun prepares a supervised (random init) or fine-tune
// (pretrained backbone) run from a config: the labelled training subset
// (finetune.labels, leak-free: drawn from the train split only, or read
// from finetune.subset_file and checked against val and test), the full val
// and test splits, all centre-cropped to input.image size and normalised once
// in memory; the normalisation is the train split's statistics
// (data.LoadStats, the seed's definition) for supervised runs and the
// pretrained checkpoint's for fine-tuning, and goes into every checkpoint it
// writes. ClassifierRun.Train then runs the seed's protocol by default: Adam at
// init_lr with cosine annealing to final_lr stepped once per epoch (PyTorch's
// CosineAnnealingLR with T_max = num_epochs, which the seed used), batch
// size from train args, a fresh shuffle every epoch, no augmentation. The
// options are config keys: finetune.linear_probe (frozen backbone),
// optimizer.init_wd/final_wd and optimizer (Adam or AdamW), finetune.labels
// (300, 600, 1200 or all), and finetune.augment, which flips each image with
// the probabilities of the ssl augmentation kwargs section
// (horizontal_flip_probability, vertical_flip_probability) and turns it by
// a random multiple of 90 degrees when rot90 is set.
//
// Images handed to a Model are flat float32 N x 3 x S x S, channels-first,
// normalised per band as (flux - mean) / std; labels are 1 for a lens and 0
// for a non-lens; scores are P(lens).
//
// # Run folder
//
//	config.resolved.yaml       the config the run trains with
//	metrics.jsonl              one shared.Metric per line
//	train_subset.json          the labelled images, when finetune.labels is not all
//	checkpoints/last/          model.safetensors, model.json, state.safetensors, state.json
//	checkpoints/best/          model.safetensors, model.json: the best validation AUC so far
//	report.json, report.md     last and best epochs, val and test reports
//
// # Determinism and resuming
//
// A seed (experiment.seed) fixes the initial weights, every epoch's
// shuffle and every augmentation draw. Cancelling the context stops the
// loop after the current step and saves checkpoints/last with the training
// state (optimiser moments, step, epoch and the shuffling generator); a run
// resumed from it continues bit for bit as if it had not stopped. The
// model's dropout and drop-path masks follow the step number (Model.Reseed),
// so they too repeat.
package ssl
