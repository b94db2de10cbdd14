// Package train is the training runtime shared by `sprint train-teacher` and `sprint distill`:
// optimizers, learning-rate schedules, clipping, EMA, the step graph of a phase, and the run
// loop with its checkpoints, logging and validation.
//
// # State is explicit
//
// Networks are pure graph functions of named weight nodes; every piece of state is a Group,
// a map of named host tensors: "student", "teacher", "heads", optimizer states "opt_g" and
// "opt_d", buffers, "ema_student". Nothing hides in GoMLX variables, so a checkpoint is just
// the groups plus counters.
//
// # One graph per phase
//
// A Stepper compiles one graph per phase (see the reference notes §3.5 and §12): the LossFn,
// gradients with respect to the phase's trainable group only, global-norm clipping
// (torch's clip_grad_norm_), a NaN/Inf guard (a non-finite loss or gradient norm leaves
// parameters, optimizer state and buffers unchanged and reports Skipped), and the optimizer
// update. A GAN-style run has two phases: G (trainable "student", frozen "teacher" and
// "heads") and D (trainable "heads", frozen "teacher" and "student"), each with its own
// optimizer state. The LossFn sees frozen tensors as "<group>/<name>" (Sub extracts a group)
// and an RNG state derived on the host from (seed, global step, phase, skipped steps), so
// that a resumed run draws exactly what an uninterrupted one would.
//
// Optimizers are graph functions with explicit state: AdamW (decoupled weight decay, as
// torch) and CAME (SANA-Sprint's optimizer: factored second moments for matrices and 1×1
// convolutions, confidence-guided update, RMS update clipping).
//
// # The run loop
//
// Run cycles through the phases (G×g, D×d: train.phase_ratio), one batch per step. Every
// successful step increments the global step; a skipped step does not, does not flip the
// phase, and is counted. The learning-rate schedule (constant or cosine, with linear warmup,
// after the optional sqrt batch scaling auto_lr) advances on G steps only and D keeps the
// base lr, as in the reference; lr_schedule.step_on=all makes every phase follow and advance it.
//
// A run folder runs/<name>/ holds config.yaml, checkpoints/ (atomic, keep-last-K, `latest`),
// metrics.jsonl, events.out.tfevents.* (TensorBoard), samples/ (PNG grids from the
// validation hook), wandb/ (W&B's local copy), train.log and status.json. SIGINT/SIGTERM
// (SignalContext) and train.max_hours stop after the current step with a checkpoint; the
// exit codes (ExitOK, ExitResume, ExitError) drive scripts/chain.sh. Resuming checks the
// config against the checkpoint's and names the keys that differ.
//
// It knows nothing of the algorithm's formulas: the distill package supplies the LossFns.
package train
