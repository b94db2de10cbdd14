// Package stfile reads and writes safetensors files from local paths, converting tensors to float32.
//
// The format: an 8-byte little-endian header length, a JSON header mapping names to
// {dtype, shape, data_offsets} (plus an optional "__metadata__" entry), then the raw little-endian data.
// It is not a checkpoint library: it exists so the evaluation networks can load their weights without
// network access or a model hub layout.
package stfile
