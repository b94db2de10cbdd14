// Package featcache is an append-only file of named float32 vectors (per-image features or scores)
// that lets an interrupted evaluation resume: records are written as they are computed, and a
// partial record left by a crash is cut off when the file is opened again. It is not a database:
// the whole file is read into memory.
package featcache
