package distill

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/train"
)

// Batch keys: the names of a Batch's tensors in train.StepInputs.Batch, and of the tensors
// in embedding files (`sprint sample --embeddings`, the null-caption file).
const (
	// BatchLatent is the clean latent (B, C, H, W) in latent units; x0 = σd·latent.
	BatchLatent = "latent"
	// BatchText is the caption embedding (B, L, Dc).
	BatchText = "text_embedding"
	// BatchMask is the caption mask (B, L), 1 for real tokens.
	BatchMask = "text_mask"
	// NullEmbedding is the unconditional caption (1, L, Dc) of the teacher's CFG pass (§2.2
	// step 2) and of the teacher's caption dropout.
	NullEmbedding = "null_embedding"
)

// Batch is the data of one training step, checked once where it is made (NewBatch), so the
// loss graphs can rely on its shapes.
type Batch struct {
	// Latent is the clean latent (B, C, H, W), in latent units.
	Latent *tensors.Tensor
	// Text is the caption embedding (B, L, Dc).
	Text *tensors.Tensor
	// Mask is the caption mask (B, L), 1 for real tokens.
	Mask *tensors.Tensor
	// Null is the unconditional caption (1, L, Dc) or (L, Dc), or nil when no loss needs it (no CFG, no
	// caption dropout). It is the only way the null caption reaches the losses.
	Null *tensors.Tensor
	// Control is the control latent (B, C, H, W) of a ControlNet job, nil otherwise (see WithControl).
	Control *tensors.Tensor
}

// NewBatch checks the shapes of one step's tensors and returns them as a Batch. null may be
// nil, (L, Dc) or (1, L, Dc).
func NewBatch(latent, text, mask, null *tensors.Tensor) (Batch, error) {
	if latent == nil || text == nil || mask == nil {
		return Batch{}, fmt.Errorf("distill: batch: latent, text embedding and text mask are all required")
	}
	lat, tx, mk := latent.Shape(), text.Shape(), mask.Shape()
	switch {
	case lat.Rank() != 4:
		return Batch{}, fmt.Errorf("distill: batch %q must be (B, C, H, W), got %s", BatchLatent, lat)
	case tx.Rank() != 3 || tx.Dimensions[0] != lat.Dimensions[0]:
		return Batch{}, fmt.Errorf("distill: batch %q must be (B, L, D) with B = %d, got %s", BatchText, lat.Dimensions[0], tx)
	case mk.Rank() != 2 || mk.Dimensions[0] != tx.Dimensions[0] || mk.Dimensions[1] != tx.Dimensions[1]:
		return Batch{}, fmt.Errorf("distill: batch %q must be (B, L) matching %s, got %s", BatchMask, tx, mk)
	}
	b := Batch{Latent: latent, Text: text, Mask: mask}
	if null != nil {
		nd := null.Shape().Dimensions
		if len(nd) == 2 {
			nd = append([]int{1}, nd...)
		}
		if len(nd) != 3 || nd[0] != 1 || nd[1] != tx.Dimensions[1] || nd[2] != tx.Dimensions[2] {
			return Batch{}, fmt.Errorf("distill: %s has shape %s, want (%d, %d) like the captions", NullEmbedding, null.Shape(), tx.Dimensions[1], tx.Dimensions[2])
		}
		b.Null = null
	}
	return b, nil
}

// Tensors returns the batch as train.StepInputs.Batch names it.
func (b Batch) Tensors() map[string]*tensors.Tensor {
	out := map[string]*tensors.Tensor{BatchLatent: b.Latent, BatchText: b.Text, BatchMask: b.Mask}
	if b.Null != nil {
		out[NullEmbedding] = b.Null
	}
	if b.Control != nil {
		out[BatchControl] = b.Control
	}
	return out
}

// batchNodes is a Batch inside a step graph.
type batchNodes struct {
	latent, text, mask *Node
}

// readBatch returns the step's batch nodes. The batch was checked by NewBatch; a missing key
// here is a programming error. The latent is converted to the loss dtype (lossDType): the
// losses, the draws, the tangent and its normalisation run in float32 whatever dtype the
// batch is stored in (bfloat16 shards), as the reference computes them outside autocast.
func readBatch(in train.StepInputs) batchNodes {
	latent := mustGet(in.Batch, BatchLatent)
	return batchNodes{
		latent: StopGradient(ConvertDType(latent, lossDType(latent.DType()))),
		text:   mustGet(in.Batch, BatchText),
		mask:   mustGet(in.Batch, BatchMask),
	}
}

// lossDType is the dtype the losses compute in for a batch stored in dt: float64 stays (finite
// difference checks), anything else is float32.
func lossDType(dt dtypes.DType) dtypes.DType {
	if dt == dtypes.Float64 {
		return dt
	}
	return dtypes.Float32
}

// nullEmbedding returns the unconditional caption broadcast to the batch (B, L, Dc).
func nullEmbedding(in train.StepInputs, text *Node) *Node {
	null := in.Batch[NullEmbedding]
	if null == nil {
		panic(fmt.Errorf("distill: the teacher's CFG pass (cfg_scales[0] > 1) and caption dropout need the batch's %s (Batch.Null)", NullEmbedding))
	}
	null = StopGradient(ConvertDType(null, text.DType()))
	if null.Rank() == 2 {
		null = ExpandAxes(null, 0)
	}
	return BroadcastToDims(null, text.Shape().Dimensions...)
}
