// Package augment draws the views of a cutout that the self-supervised
// methods train on: DINO and iBOT multi-crop (two global and several local
// crops, plus iBOT's block masks), SimSiam pairs, and plain evaluation crops.
// One implementation serves training and the portal's previews.
//
// Images are data.Image values, channels-first (C, H, W) float32 with the
// bands g, r, i. Every view is a (3, S, S) image, S the configured crop size
// in pixels, normalised per band as (flux - Mean) / Std. Crop area scales are
// fractions of the centre crop's area; aspect ratios are width / height;
// blur sigmas are in pixels of the output view. A mask is a row-major []bool
// over the patch grid of a global view (S / patch size patches a side), true
// where the patch is hidden from the student.
//
// Every random draw comes from the *rand.Rand the caller passes in, so a
// sample's views are fixed by its generator's seed; SampleRNG derives one per
// (seed, epoch, sample index). Pipelines are safe for concurrent use: each
// call takes its scratch buffers from a pool owned by the pipeline.
package augment
