package generate

import (
	"context"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/data"
)

// ShapesText is the shapes dataset's text encoder as a TextEncoder.
type ShapesText struct{ Encoder *data.TextEncoder }

// Encode implements TextEncoder.
func (s ShapesText) Encode(ctx context.Context, prompts []string) (emb, mask *tensors.Tensor, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	emb, mask = s.Encoder.EncodeText(prompts)
	return emb, mask, nil
}
