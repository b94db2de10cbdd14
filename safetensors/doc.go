// Package safetensors reads and writes the safetensors format, the one weight and
// checkpoint file format of sprint: run checkpoints, teacher and student weights in
// diffusers' layout, the evaluation networks' weights, latents and embeddings.
//
// Read, ReadFile and ForEach load whole tensors as GoMLX host tensors (a file, a sharded
// index or a diffusers/transformers folder); Open gives lazy per-tensor float32 access;
// Write and WriteFile store a map of tensors with sorted names, so the same map always gives
// the same bytes. Every header entry is validated against the file before any data is read,
// so a truncated or crafted file is an error naming the file and tensor, never a panic.
//
// It knows nothing of models or name mappings: those live in checkpoints and in the
// packages that own each network.
package safetensors
