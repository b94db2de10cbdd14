package distill

import (
	. "github.com/gomlx/gomlx/core/graph"
)

// HingeGenerator is the generator's adversarial hinge term L_adv = −mean(D(fake)) (§3.4).
func HingeGenerator(fakeLogits *Node) *Node {
	return Neg(ReduceAllMean(fakeLogits))
}

// HingeTerms are the discriminator's hinge loss and its two logged halves (§3.4).
type HingeTerms struct {
	// Loss is L_D = ½·(Real + Fake).
	Loss *Node
	// Real is mean(ReLU(1 − D(real))) ("loss_real").
	Real *Node
	// Fake is mean(ReLU(1 + D(fake))) ("loss_gen").
	Fake *Node
}

// HingeDiscriminator is L_D = ½·[mean ReLU(1 − D(real)) + mean ReLU(1 + D(fake))] (§3.4); each
// mean runs over all its logits (every head and token).
func HingeDiscriminator(realLogits, fakeLogits *Node) HingeTerms {
	real := ReduceAllMean(relu(OneMinus(realLogits)))
	fake := ReduceAllMean(relu(OnePlus(fakeLogits)))
	return HingeTerms{Loss: MulScalar(Add(real, fake), 0.5), Real: real, Fake: fake}
}

func relu(x *Node) *Node { return MaxScalar(x, 0) }

// Misaligned rolls x by one along the batch axis (torch.roll(x, 1, 0)): sample i gets sample
// i−1's content, the first gets the last's, so each latent meets another sample's caption (§3.4
// misaligned pairs).
func Misaligned(x *Node) *Node {
	b := x.Shape().Dimensions[0]
	return Concatenate([]*Node{SliceAxis(x, 0, AxisRange(b-1, b)), SliceAxis(x, 0, AxisRange(0, b-1))}, 0)
}
