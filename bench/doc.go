// Package bench measures sprint's steps on a backend with random weights at a config's
// shapes: compile time and step time of the flow-matching (teacher), generator and
// discriminator steps, student sampling latency at 1, 2 and 4 steps, samples per second, model
// FLOPs from shapes and the model FLOP utilisation (MFU) against a peak, and the device memory
// XLA's compiler reports for each executable (n/a on backends without it, such as the Go
// backend). It needs no data and no weights files. `sprint bench` is its command.
//
// It is not the training loop: no checkpoints, no data reader, no logging.
package bench
