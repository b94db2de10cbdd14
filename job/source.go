package job

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
)

// source adapts a data.Reader to train.BatchSource: batches as the distill losses name them, plus
// the null caption for classifier-free guidance, and the reader position for exact resume.
type source struct {
	ctx    context.Context
	reader *data.Reader
	it     *data.Iterator
	pos    data.Position
	null   *tensors.Tensor // (1, L, D)
	// control adds the batches' control latents (a ControlNet job, control.go).
	control bool
}

func newSource(ctx context.Context, reader *data.Reader, null *tensors.Tensor) (*source, error) {
	s := &source{ctx: ctx, reader: reader, null: null, pos: data.Position{Fingerprint: reader.Fingerprint()}}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *source) open() error {
	if s.it != nil {
		_ = s.it.Close()
	}
	it, err := s.reader.Iterate(s.ctx, s.pos)
	if err != nil {
		return fmt.Errorf("data reader at epoch %d batch %d: %w", s.pos.Epoch, s.pos.Index, err)
	}
	s.it = it
	return nil
}

// Next returns the next batch as a checked distill.Batch (with the null caption) in the names
// the step graphs read.
func (s *source) Next() (map[string]*tensors.Tensor, error) {
	b, err := s.it.Next()
	if err != nil {
		return nil, err
	}
	batch, err := distill.NewBatch(b.Latent, b.TextEmbedding, b.TextMask, s.null)
	if err != nil {
		return nil, fmt.Errorf("data reader at epoch %d batch %d: %w", s.pos.Epoch, s.pos.Index, err)
	}
	if s.control {
		if batch, err = batch.WithControl(b.Control); err != nil {
			return nil, fmt.Errorf("data reader at epoch %d batch %d: %w", s.pos.Epoch, s.pos.Index, err)
		}
	}
	s.pos = b.Next
	return batch.Tensors(), nil
}

// Position is the reader position after the last batch Next returned.
func (s *source) Position() json.RawMessage {
	b, _ := json.Marshal(s.pos) // a Position always marshals
	return b
}

// Restore moves the reader to a saved position.
func (s *source) Restore(raw json.RawMessage) error {
	var p data.Position
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("data position %s: %w", raw, err)
	}
	s.pos = p
	return s.open()
}

// Close stops the reader's background work.
func (s *source) Close() error {
	if s.it != nil {
		return s.it.Close()
	}
	return nil
}
