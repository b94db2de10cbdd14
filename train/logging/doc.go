// Package logging holds the metric sinks of a training run: metrics.jsonl, TensorBoard event
// files and Weights & Biases.
//
// TensorBoard files are written without TensorFlow: TFRecord framing with masked CRC-32C and
// Event/Summary protobufs encoded by hand, scalars as simple values and images as PNG.
//
// W&B is spoken over net/http the way the official client does (GraphQL upsertBucket and
// createRunFiles, then the file_stream API), with a local copy of every row that is all of
// offline mode and what SyncWandB (`sprint wandb sync`) uploads later.
//
// It knows nothing of training: a Sink receives named scalars and images at steps.
package logging
