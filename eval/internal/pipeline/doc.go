// Package pipeline runs the load → batch → model loop of the evaluation jobs: items are loaded
// (decoded, preprocessed) by parallel workers one batch ahead of the model, and batches reach the
// consumer in order; Images runs it over image files with a progress line. It is not a general
// work queue.
package pipeline
