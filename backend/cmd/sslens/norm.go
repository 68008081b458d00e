package main

import (
	"fmt"
	"io"

	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/ssl"
)

// hasNorm reports whether a checkpoint says how to normalise its inputs;
// imported weights never fine-tuned here do not.
func hasNorm(ck *ssl.Checkpoint) bool {
	return ck.Norm != augment.Normalization{}
}

// fillNorm gives a checkpoint that carries no normalisation the one stats
// computes from the dataset dir, as finetune does, and says so on w; a
// checkpoint with its own is left as it is.
func fillNorm(ck *ssl.Checkpoint, dir string, w io.Writer, stats func() (augment.Normalization, error)) error {
	if hasNorm(ck) {
		return nil
	}
	n, err := stats()
	if err != nil {
		return fmt.Errorf("%s carries no normalisation (imported weights): the train split of %s: %w", ck.Path, dir, err)
	}
	ck.Norm = n
	fmt.Fprintf(w, "%s carries no normalisation (imported weights): using the train split statistics of %s\n", ck.Path, dir)
	return nil
}
