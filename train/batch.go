package train

import (
	"encoding/json"

	"github.com/gomlx/gomlx/core/tensors"
)

// BatchSource yields training batches and can save and restore its position, so that a
// resumed run reads exactly the batches an uninterrupted one would have.
type BatchSource interface {
	// Next returns the next batch (named tensors). io.EOF ends the run as completed.
	Next() (map[string]*tensors.Tensor, error)
	// Position returns an opaque description of where the next Next will read from.
	Position() json.RawMessage
	// Restore moves to a position returned by Position.
	Restore(json.RawMessage) error
}
