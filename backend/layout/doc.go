// Package layout owns the two folders sslens writes and reads across
// process boundaries: a run folder (what `sslens pretrain`, `finetune`,
// `reproduce` and `score` leave for the job runner and the portal) and a
// dataset folder (what `sslens simulate` writes and the readers serve).
//
// It declares every file name inside them once, and the typed read and
// write of the files other packages parse: metrics.jsonl (the live record
// stream), report.json (a finished classifier run), results.json (a
// finished reproduction) and metadata.csv (a simulated dataset's true
// parameters). The splits files keep their codec in backend/data, which
// also reads the reference project's pickles; their names are here.
//
// It imports only the standard library, backend/atomicfile, backend/eval
// (the evaluation report types), backend/nn/ckpt (the checkpoint sidecar's
// normalisation) and shared (the metric record), none of which links the
// training engine, so the server and the job runner read run folders
// without it.
package layout
