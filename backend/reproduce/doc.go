// Package reproduce runs the reference project's experiment as a matrix
// of cells (`sslens reproduce`): for each backbone, seed and SSL method a
// pretraining on the whole train split, then for each label count a
// classifier fine-tuned from it (or, for supervised, trained from random
// init) and tested on the test split.
//
// It sits above ssl and drives its loops directly: Plan turns a
// config.ReproduceConfig into cells with resolved experiment configs, Run
// trains the cells that are not finished yet (skipping, resuming or
// restarting each as its run folder says), then computes the statistics
// (per-row spreads over seeds with bootstrap intervals, paired comparisons
// with supervised training) and writes the results folder: results.json
// (schema in backend/layout), results.md (Markdown) and one ROC plot per
// backbone and label count (drawn by backend/render).
package reproduce
