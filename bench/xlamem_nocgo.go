//go:build !cgo

package bench

import "github.com/gomlx/gomlx/core/graph"

// deviceMemory is unavailable without cgo (no XLA backend in the binary).
func deviceMemory(*graph.Graph) (int64, bool) { return 0, false }
