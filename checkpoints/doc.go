// Package checkpoints reads and writes weights and run state on disk.
//
// Two kinds of files live here:
//
//   - The diffusers layout of SANA transformers, read and written as safetensors files
//     (diffusers.go): teacher weights in, student weights out.
//   - Run checkpoints (run.go): everything a training run needs to continue exactly where
//     it stopped. One checkpoint is one safetensors file, checkpoints/step-NNNNNNNNN.safetensors,
//     whose tensors are every saved group ("<group>/<name>": "student/...", "heads/...",
//     "opt_g/...", "opt_d/...", "ema_student/...", buffers) and whose header metadata holds
//     the step counters (global, per phase, skipped, schedule), the phase position, the seed,
//     the data reader's opaque position, the sha256 fingerprint of the resolved config, and
//     the config itself (YAML, and flattened for diffs on resume).
//
// Saving is atomic: the file is written to a temporary sibling, fsynced, renamed into place
// and the folder fsynced; then the `latest` pointer file is replaced the same way; then
// checkpoints beyond the newest keep_last are deleted. A failed write (a full disk) or a
// process killed mid-save leaves the previous checkpoint the loadable latest; Latest also
// falls back to the newest complete file if the pointer is lost or damaged. Writes go
// through atomicfile.FS so that tests can inject such faults.
//
// Inspect describes a checkpoint (`sprint checkpoint inspect`): counters, data position,
// every tensor's dtype, shape and content digest, and one digest over all tensors.
//
// It knows nothing of training: the train package decides what goes into a checkpoint.
// GoMLX's own checkpoints are not used (they are not atomic and hold no data position).
package checkpoints
