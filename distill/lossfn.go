package distill

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sprint-distill/sprint/train"
)

// Group names of the distillation's tensors, as the train package keys them: StepInputs.Frozen
// holds "<group>/<name>" (train.Sub), StepInputs.Trainable the trainable group's plain names.
const (
	// StudentGroup holds the student's model parameters (trainable in the generator phase).
	StudentGroup = "student"
	// TeacherGroup holds the teacher's model parameters (always frozen).
	TeacherGroup = "teacher"
	// HeadsGroup holds the discriminator heads' parameters (trainable in the discriminator
	// phase), named heads.<i>.… (see InitHeads).
	HeadsGroup = "heads"
)

// Batch keys the loss functions read.
const (
	// BatchLatent is the clean latent (B, C, H, W) in latent units; x0 = σd·latent.
	BatchLatent = "latent"
	// BatchText is the caption embedding (B, L, Dc).
	BatchText = "text_embedding"
	// BatchMask is the caption mask (B, L), 1 for real tokens.
	BatchMask = "text_mask"
	// NullEmbedding is the unconditional caption (1, L, Dc) or (L, Dc) of the teacher's CFG
	// pass (§2.2 step 2). It is read from Batch, or else from Frozen as "teacher/null_embedding".
	NullEmbedding = "null_embedding"
)

// frozen returns one group of Frozen with every tensor wrapped in StopGradient, so that no
// gradient of the loss reaches it even if a caller differentiates more than Trainable.
func frozen(in train.StepInputs, group string) map[string]*Node {
	out := train.Sub(in.Frozen, group)
	for k, v := range out {
		out[k] = StopGradient(v)
	}
	return out
}

// headBuffers returns the buffers (the heads' spectral-norm vectors), without gradient.
func headBuffers(in train.StepInputs) map[string]*Node {
	out := make(map[string]*Node, len(in.Buffers))
	for k, v := range in.Buffers {
		out[k] = StopGradient(v)
	}
	return out
}

// batchInputs is the batch of a distillation step.
type batchInputs struct {
	latent, text, mask *Node
}

func readBatch(in train.StepInputs) batchInputs {
	b := batchInputs{
		latent: mustGet(in.Batch, BatchLatent),
		text:   mustGet(in.Batch, BatchText),
		mask:   mustGet(in.Batch, BatchMask),
	}
	lat, text, mask := b.latent.Shape(), b.text.Shape(), b.mask.Shape()
	switch {
	case lat.Rank() != 4:
		panic(fmt.Errorf("distill: batch %q must be (B, C, H, W), got %s", BatchLatent, lat))
	case text.Rank() != 3 || text.Dimensions[0] != lat.Dimensions[0]:
		panic(fmt.Errorf("distill: batch %q must be (B, L, D) with B = %d, got %s", BatchText, lat.Dimensions[0], text))
	case mask.Rank() != 2 || mask.Dimensions[0] != text.Dimensions[0] || mask.Dimensions[1] != text.Dimensions[1]:
		panic(fmt.Errorf("distill: batch %q must be (B, L) matching %s, got %s", BatchMask, text, mask))
	}
	b.latent = StopGradient(b.latent)
	return b
}

// nullEmbedding returns the unconditional caption broadcast to the batch (B, L, Dc).
func nullEmbedding(in train.StepInputs, text *Node) *Node {
	null := in.Batch[NullEmbedding]
	if null == nil {
		null = in.Frozen[TeacherGroup+train.GroupSeparator+NullEmbedding]
	}
	if null == nil {
		panic(fmt.Errorf("distill: the teacher's CFG pass (cfg_scales[0] > 1) needs %q in the batch or %q in the frozen tensors",
			NullEmbedding, TeacherGroup+train.GroupSeparator+NullEmbedding))
	}
	null = StopGradient(ConvertDType(null, text.DType()))
	if null.Rank() == 2 {
		null = ExpandAxes(null, 0)
	}
	d, nd := text.Shape().Dimensions, null.Shape().Dimensions
	if null.Rank() != 3 || nd[0] != 1 || nd[1] != d[1] || nd[2] != d[2] {
		panic(fmt.Errorf("distill: %s has shape %s, want (1, %d, %d) like the captions", NullEmbedding, null.Shape(), d[1], d[2]))
	}
	return BroadcastToDims(null, d...)
}
