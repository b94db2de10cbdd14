// Package gmx holds the small amount of GoMLX plumbing the evaluation networks share: a set of named
// float32 weight tensors passed to a compiled graph as trailing inputs, and a program wrapper that
// turns GoMLX panics into errors.
//
// It is not a layer library: the networks (FID Inception, CLIP) write their graphs with core/graph ops.
package gmx
