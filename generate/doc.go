// Package generate makes the images an evaluation scores: prompts through a text encoder, a
// distilled student's 1/2/4-step sampler and a latent decoder into image files (MJHQ-30K's
// <key>.png, GenEval's <00000>/samples/<0000j>.png).
//
// A job is resumable per image: prompts go in fixed batches whose noise and sampler seed depend
// only on the batch's position, a batch is run again only if one of its images is missing, and
// only the missing files are written (atomically), so an interrupted job resumed writes exactly
// the images an uninterrupted one would have. Shard i of n takes every n-th batch, so several
// processes (one per device) split a job without overlap.
//
// It does not score images (package eval) nor train anything.
package generate
