// Package decode is the stage where latents become pictures: sampling, validation grids
// during training, the demo and the evaluation jobs all turn latents into images through a
// Decoder. The shapes dataset's exact decoder and a channel preview live here; the DC-AE
// autoencoder's decoder (package vae) satisfies the same interface.
//
// It does not lay images out (package grid) nor sample latents (package distill).
package decode
