// Package jobs is the portal's job queue: it starts queued runs when a
// slot is free, follows them while they run, and records how they end.
//
// # One child process per job
//
// A job runs a subcommand of the sslens binary itself (os.Executable) as a
// child process: simulate, pretrain, finetune, reproduce, score
// (score-batch) or import-weights (import), with the same flags a user
// would type, so the portal runs
// exactly the code the CLI runs. A child process rather than a goroutine
// because:
//
//   - cancelling is a signal: SIGINT makes the CLI stop after the current
//     step and save checkpoints/last (as Ctrl-C does), and SIGKILL after a
//     grace period ends one that does not stop; nothing inside the server
//     has to know how to interrupt a training loop;
//   - a crash, a runaway allocation or a cgo fault in training takes down
//     the job, not the server and its other jobs;
//   - the child runs in its own process group with Pdeathsig SIGKILL, so a
//     server killed with SIGKILL takes its jobs with it instead of leaving
//     orphans writing to run folders that the next server marks interrupted;
//   - the run folder is the whole interface (metrics.jsonl, stdout.log,
//     stderr.log, checkpoints/), which is also what a cluster job writes to
//     a shared file system: an executor that submits through Slurm's sbatch
//     and signals through scancel implements Executor with no change here
//     or in the server.
//
// The cost is a process start and a model load per job, seconds against
// minutes of training.
//
// # Progress
//
// While a job runs, the manager polls its run folder (every Options.Poll):
// new lines of metrics.jsonl become metric events, new lines of stdout.log
// and stderr.log log events, and for simulate jobs the count of images
// written so far a progress event. Each poll's events are stored in one
// transaction (numbered per run) and then handed to the Notifier (the
// websocket hub). Checkpoints named by the metrics stream are recorded in
// the store as they appear.
//
// # Slots and caps
//
// Jobs run in two pools of slots. The training kinds (simulate, pretrain,
// finetune, reproduce) share Options.Slots (default 1); score-batch and
// import have Options.ScoreSlots of their own (default 1). Scoring a batch
// of uploads or importing weights takes seconds and training takes hours:
// in one pool a score batch would wait for the training ahead of it, and a
// queue of score batches would hold an admin's training back. Each pool
// starts its queued runs oldest first. A running score batch shares the
// CPU with a running training run.
//
// An import run reads a weights file under the data folder (never a path
// outside it: see ImportSource) and writes its checkpoints/last, which is
// registered as a pretraining run's is, and its sidecar's source record
// (file, SHA-256, keys taken and dropped, resampling, channels) is added
// to the run's log.
//
// A user may have at most Options.MaxQueued runs queued, by role (by
// default DefaultMaxQueued, 4, for astronomers and no cap for admins):
// Submit refuses one more with a conflict that says so. The count and the
// insert share one store transaction.
//
// # States
//
// A job is queued until a slot is free and the run it waits for (After),
// if any, has succeeded (it fails if that one fails, and keeps waiting
// while that one is cancelled or interrupted, which may be resumed);
// running until its process ends; then succeeded (exit 0), cancelled
// (stopped on request), interrupted (the server stopped or died while it
// ran) or failed. Cancelled and interrupted runs are resumable: resuming
// queues them again, and a training run then continues from its
// checkpoints/last (sslens finetune or pretrain --resume), or starts over
// when it had saved none.
//
// Words: a run is the record (a row of the store, a run folder, its
// events); a job is the queue's work of running one. The store's types and
// methods speak of runs, this package of jobs.
package jobs
