// Package dataimport turns survey cutouts into a dataset folder sslens
// trains on.
//
// A source is a folder on the server or an archive (.zip, or .tar, .tar.gz,
// .tgz read as a stream). Its cutout files (.npy, FITS, .fits.gz, PNG, by
// extension; hidden files and __MACOSX left out) are validated with the
// readers uploads use, in parallel, and taken in the source's order:
//
//   - A file under a folder called lenses or nonlenses is a lens or a
//     non-lens (the nearest such folder decides); a source with any such
//     file is labelled, and its other files are refused. A source with none
//     is unlabelled: for pretraining and similarity search.
//   - Each good cutout is stored as the canonical .npy, (3, H, W) float32
//     little-endian, in lenses/, nonlenses/ or unlabelled/, named after its
//     path below the class folder (folders joined by "__", see
//     canonicalName), with its source path, OBJECT, sky position and content
//     hash in metadata.csv.
//   - Bad files (unreadable, not g, r, i, smaller than the models' crop,
//     non-finite pixels, a name another file took) are listed with their
//     reasons and skipped. A file whose decoded pixels equal an earlier
//     file's is a duplicate by content: listed, not imported (with a note
//     when the two carry different labels; the first label is kept).
//   - Cutouts whose centres lie within Options.SameObject (1") are reported
//     as the same object; cutouts linked by separations within
//     Options.GroupRadius (10", an HSC 64 px cutout's width) form a group.
//   - Splits: a labelled source's own splits file (indices.pkl or
//     splits.json beside lenses/ and nonlenses/) is kept, its names mapped
//     to the canonical ones, and groups it splits are counted as leaks.
//     Otherwise whole groups are drawn into train, val and test (the
//     reference dataset's shares by default), class by class, in an order
//     fixed by the seed and the names: deterministic, stratified, and
//     never with near-duplicates on both sides.
//   - A provenance.json at the source's top (where the labels came from:
//     a graded set's rule and grades) is copied into the dataset as it is.
//   - The train split's normalisation statistics are computed (and cached
//     as training reads them), and import-report.json and .txt are written.
//
// Memory is bounded by a few files per decoder and a small record per
// cutout, whatever the number of files; the dataset is written into
// OUT.importing and renamed to OUT at the end, so a failed or interrupted
// import leaves no half dataset.
package dataimport
