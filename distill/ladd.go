package distill

// LADD (§3): the discriminator heads on frozen teacher features, their hinge losses and the
// misaligned pairs.

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/sprint-distill/sprint/model"
)

// Constants of the LADD heads (§3.2, [LADD] ladd_blocks): spectral norm eps, BatchNormLocal eps,
// LeakyReLU slope and the kernel size of the residual block's convolution.
const (
	spectralEps   = 1e-12
	batchNormEps  = 1e-5
	leakySlope    = 0.2
	residualWidth = 9
)

// HeadsPrefix starts every discriminator-head parameter and buffer name:
// heads.<i>.{conv0,norm0,conv1,norm1,cls}.{weight,bias}; the spectral-norm power-iteration
// vectors are the buffers heads.<i>.{conv0,conv1,cls}.weight_u / weight_v.
const HeadsPrefix = "heads."

// headConvs lists each head's spectrally normalised convolutions: name, whether it outputs the
// single logit channel (else as many channels as the width), kernel size.
var headConvs = []struct {
	name   string
	single bool // one output channel (the logit)
	kernel int
}{
	{"conv0", false, 1},
	{"conv1", false, residualWidth},
	{"cls", true, 1},
}

// InitHeads returns the initial parameters and spectral-norm buffers of one discriminator head
// per distill.head_block_ids block, over the model's hidden width, in the model's dtype
// (float32 when the model computes in bfloat16). Names: heads.<i>.{conv0,norm0,conv1,norm1,cls}.
// {weight,bias} (parameters; conv weights in PyTorch's (out, in, kernel) layout) and
// heads.<i>.{conv0,conv1,cls}.weight_{u,v} (buffers).
func InitHeads(cfg Config, mcfg model.Config, seed int64) (params, buffers model.Params, err error) {
	r, err := checkConfigs(cfg, mcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("distill: heads: %w", err)
	}
	if len(cfg.HeadBlockIDs) == 0 {
		return nil, nil, fmt.Errorf("distill: heads: distill.head_block_ids is empty")
	}
	dt, err := r.ComputeDType()
	if err != nil {
		return nil, nil, fmt.Errorf("distill: heads: model.dtype: %w", err)
	}
	if dt != dtypes.Float64 {
		dt = dtypes.Float32
	}
	p, b, err := initHeads(len(cfg.HeadBlockIDs), r.HiddenSize, dt, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("distill: heads: %w", err)
	}
	return p, b, nil
}

// initHeads builds the parameters and buffers of numHeads heads over features of the given width,
// like PyTorch's Conv1d init (weight and bias uniform in ±1/√fan_in), BatchNorm affine (1, 0),
// and unit-norm Gaussian u, v for the spectral norm.
func initHeads(numHeads, width int, dtype dtypes.DType, seed int64) (params, buffers map[string]*tensors.Tensor, err error) {
	if numHeads < 1 || width < 1 {
		return nil, nil, fmt.Errorf("distill: heads need at least one head and width >= 1, got %d heads of width %d", numHeads, width)
	}
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		return nil, nil, fmt.Errorf("distill: heads support float32 and float64 parameters, not %s", dtype)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed_4ead))
	params = map[string]*tensors.Tensor{}
	buffers = map[string]*tensors.Tensor{}
	uniform := func(n int, bound float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = (2*rng.Float64() - 1) * bound
		}
		return v
	}
	unit := func(n int) []float64 {
		v := make([]float64, n)
		var s float64
		for i := range v {
			v[i] = rng.NormFloat64()
			s += v[i] * v[i]
		}
		s = math.Max(math.Sqrt(s), spectralEps)
		for i := range v {
			v[i] /= s
		}
		return v
	}
	fill := func(val float64, n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = val
		}
		return v
	}
	put := func(dst map[string]*tensors.Tensor, name string, values []float64, dims ...int) {
		dst[name] = tensorOf(values, dtype, dims...)
	}
	for h := range numHeads {
		for _, c := range headConvs {
			out := width
			if c.single {
				out = 1
			}
			fanIn := width * c.kernel
			bound := 1 / math.Sqrt(float64(fanIn))
			base := fmt.Sprintf("%s%d.%s", HeadsPrefix, h, c.name)
			put(params, base+".weight", uniform(out*fanIn, bound), out, width, c.kernel)
			put(params, base+".bias", uniform(out, bound), out)
			put(buffers, base+".weight_u", unit(out), out)
			put(buffers, base+".weight_v", unit(fanIn), fanIn)
		}
		for _, n := range []string{"norm0", "norm1"} {
			base := fmt.Sprintf("%s%d.%s", HeadsPrefix, h, n)
			put(params, base+".weight", fill(1, width), width)
			put(params, base+".bias", fill(0, width), width)
		}
	}
	return params, buffers, nil
}

// tensorOf converts float64 values to a tensor of the given float dtype and dimensions.
func tensorOf(values []float64, dtype dtypes.DType, dims ...int) *tensors.Tensor {
	if dtype == dtypes.Float32 {
		v32 := make([]float32, len(values))
		for i, v := range values {
			v32[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(v32, dims...)
	}
	return tensors.FromFlatDataAndDimensions(values, dims...)
}

// SpectralNorm returns w/σ(w) for a convolution weight w (O, I, k), viewed as the matrix
// (O, I·k) as PyTorch's spectral_norm(dim=0) does (§3.2). σ = uᵀ·W·v with the stored unit vectors
// u (O) and v (I·k); with powerIteration, one iteration v = normalize(Wᵀu), u = normalize(W·v)
// runs first (as in training mode), without gradient, and the new vectors are returned for the
// buffers. Gradients reach w through both W and σ.
func SpectralNorm(w, u, v *Node, powerIteration bool) (normalized, newU, newV *Node) {
	o := w.Shape().Dimensions[0]
	mat := Reshape(w, o, -1)
	if powerIteration {
		matC := StopGradient(mat)
		v = normalizeVec(Einsum("oi,o->i", matC, u))
		u = normalizeVec(Einsum("oi,i->o", matC, v))
		u, v = StopGradient(u), StopGradient(v)
	}
	sigma := ReduceAllSum(Mul(u, Einsum("oi,i->o", mat, v)))
	return Div(w, sigma), u, v
}

// normalizeVec is x/max(‖x‖, eps) (torch.nn.functional.normalize).
func normalizeVec(x *Node) *Node {
	return Div(x, MaxScalar(Sqrt(ReduceAllSum(Square(x))), spectralEps))
}

// BatchNormLocal normalises x (B, N, C) per channel over "virtual batches": the batch is split
// into G = ⌈B/virtualBatch⌉ groups of consecutive samples (B must be divisible by G), and each
// group is normalised with the mean and biased variance over its samples and tokens, then scaled
// by weight and shifted by bias (C). There are no running statistics (§3.2).
func BatchNormLocal(x, weight, bias *Node, virtualBatch int) *Node {
	dims := x.Shape().Dimensions
	b, n, c := dims[0], dims[1], dims[2]
	groups := (b + virtualBatch - 1) / virtualBatch
	if b%groups != 0 {
		exceptions.Panicf("distill: BatchNormLocal: batch %d does not split into %d equal virtual batches of at most %d", b, groups, virtualBatch)
	}
	xg := Reshape(x, groups, b/groups, n, c)
	mean := ReduceAndKeep(xg, ReduceMean, 1, 2)
	centered := Sub(xg, mean)
	variance := ReduceAndKeep(Square(centered), ReduceMean, 1, 2)
	y := Div(centered, Sqrt(AddScalar(variance, batchNormEps)))
	y = Reshape(y, b, n, c)
	return Add(Mul(y, Reshape(weight, 1, 1, c)), Reshape(bias, 1, 1, c))
}

// leakyReLU is max(x, 0.2·x).
func leakyReLU(x *Node) *Node { return Max(x, MulScalar(x, leakySlope)) }

// conv1dCircular is a Conv1d over the token axis of x (B, N, C) with weight (O, C, k) in PyTorch
// layout, bias (O), circular padding k/2 on each side (odd k), returning (B, N, O):
// y[n] = b + Σ_j W[:, :, j]·x[(n + j − k/2) mod N]. It is written as k token-shifted matmuls,
// which the Go backend runs (with gradients) many times faster than its generic convolution.
func conv1dCircular(x, w, b *Node) *Node {
	o, k := w.Shape().Dimensions[0], w.Shape().Dimensions[2]
	n := x.Shape().Dimensions[1]
	xp := x
	if k > 1 {
		xp = circularPad(x, k/2)
	}
	var y *Node
	for j := range k {
		shifted := xp
		if k > 1 {
			shifted = SliceAxis(xp, 1, AxisRange(j, j+n))
		}
		tap := Reshape(SliceAxis(w, 2, AxisRange(j, j+1)), o, -1)
		y = sumOrFirst(y, Einsum("bnc,oc->bno", shifted, tap))
	}
	return Add(y, Reshape(b, 1, 1, o))
}

// circularPad pads axis 1 of x (B, N, C) with p wrapped-around tokens on each side.
func circularPad(x *Node, p int) *Node {
	n := x.Shape().Dimensions[1]
	reps := (p+n-1)/n*2 + 1
	parts := make([]*Node, reps)
	for i := range parts {
		parts[i] = x
	}
	start := (reps/2)*n - p
	return SliceAxis(Concatenate(parts, 1), 1, AxisRange(start, start+n+2*p))
}

// headState is the spectral-norm u, v vectors of every head convolution, keyed like the buffers.
type headState map[string]*Node

// discHead applies head h to its feature (B, N, C) and returns the logits (B, N) and the
// possibly updated spectral-norm state (§3.2):
//
//	h1 = LeakyReLU(BNL(SNConv1d_k1(x)));  h2 = (LeakyReLU(BNL(SNConv1d_k9,circular(h1))) + h1)/√2
//	logits = SNConv1d_k1(h2) → (B, N)
func discHead(w map[string]*Node, state headState, h int, x *Node, virtualBatch int, powerIteration bool) (*Node, headState) {
	next := headState{}
	for k, v := range state {
		next[k] = v
	}
	conv := func(name string, in *Node) *Node {
		base := fmt.Sprintf("%s%d.%s", HeadsPrefix, h, name)
		ws, u, v := SpectralNorm(mustGet(w, base+".weight"), mustGet(state, base+".weight_u"), mustGet(state, base+".weight_v"), powerIteration)
		next[base+".weight_u"], next[base+".weight_v"] = u, v
		return conv1dCircular(in, ws, mustGet(w, base+".bias"))
	}
	norm := func(name string, in *Node) *Node {
		base := fmt.Sprintf("%s%d.%s", HeadsPrefix, h, name)
		return BatchNormLocal(in, mustGet(w, base+".weight"), mustGet(w, base+".bias"), virtualBatch)
	}
	h1 := leakyReLU(norm("norm0", conv("conv0", x)))
	h2 := DivScalar(Add(leakyReLU(norm("norm1", conv("conv1", h1))), h1), math.Sqrt2)
	logits := conv("cls", h2)
	d := logits.Shape().Dimensions
	return Reshape(logits, d[0], d[1]), next
}

// DiscriminatorHeads applies one head per teacher feature (B, N, C) and concatenates the logits to
// (B, numHeads·N) (§3.1). w holds the head parameters and state the spectral-norm vectors, both
// under HeadsPrefix names. powerIteration is the heads' training mode (discriminator phase); the
// generator phase runs them in eval mode, which reads the stored vectors and leaves them as they
// are. It returns the logits and the vectors after this call.
func DiscriminatorHeads(w, state map[string]*Node, features []*Node, virtualBatch int, powerIteration bool) (*Node, map[string]*Node) {
	st := headState(state)
	logits := make([]*Node, len(features))
	for i, f := range features {
		logits[i], st = discHead(w, st, i, f, virtualBatch, powerIteration)
	}
	return Concatenate(logits, 1), st
}

// r1Penalty is the R1 gradient penalty on the head inputs (§3.4, [TR]): for each head, the
// gradient of the sum of its logits with respect to its (detached) input feature, squared L2
// norm per sample, summed over heads, averaged over the batch and divided by the number of heads.
// The heads run in training mode (one more power iteration), as in [TR].
func r1Penalty(w, state map[string]*Node, features []*Node, virtualBatch int) (*Node, map[string]*Node) {
	st := headState(state)
	var total *Node
	for i, f := range features {
		in := Identity(StopGradient(f)) // a leaf: Gradient does not enter StopGradient nodes
		var logits *Node
		logits, st = discHead(w, st, i, in, virtualBatch, true)
		grad := Gradient(ReduceAllSum(logits), in)[0]
		perSampleSq := ReduceSum(Square(grad), 1, 2)
		total = sumOrFirst(total, perSampleSq)
	}
	return DivScalar(ReduceAllMean(total), float64(len(features))), st
}

// mustGet returns m[name] or panics with the missing name (graph building reports panics).
func mustGet(m map[string]*Node, name string) *Node {
	v, ok := m[name]
	if !ok || v == nil {
		exceptions.Panicf("distill: missing %q", name)
	}
	return v
}

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
