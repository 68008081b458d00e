// Package eval scores lens classifiers and self-supervised features.
//
// Scores are one float64 per image, higher meaning more lens-like: a
// classifier's P(lens), a kNN vote share, or any other finite score (only
// their order matters for the ROC metrics). Labels are ints, 1 for a lens (the
// positive class of every metric, data.Lens) and 0 for a non-lens
// (data.NonLens). An image is predicted a lens when its score is >= the
// threshold, so a softmax tie at 0.5 goes to lens, as the seed's argmax did
// (the seed numbered lenses 0).
//
// The package provides accuracy and the confusion matrix at a threshold, ROC
// AUC (Mann-Whitney, ties counted 1/2), ROC curves, the TPR reached at a fixed
// FPR, TPR0, stratified percentile bootstrap intervals, a Report bundling them
// for a val or test split, the DINO kNN classifier on feature vectors, and
// the choice between the last and the best-validation epoch.
//
// Every function checks its input and returns an error naming the field and
// value at fault; none panics on bad input.
package eval
