package gemma

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// Weights maps parameter names (see ParamSpecs) to graph nodes: parameters, constants or
// anything computed from them. The network is a pure function of these nodes.
type Weights map[string]*Node

// get returns the named weight, panicking (the graph-building convention; graph.Exec turns
// it into an error) when it is absent.
func (w Weights) get(name string) *Node { return netgraph.Weight(w, "gemma", name) }

// WeightsFromNodes pairs names with graph input nodes (Params.Sorted order for a Runner).
func WeightsFromNodes(names []string, nodes []*Node) Weights {
	return netgraph.FromNodes("gemma.WeightsFromNodes", names, nodes)
}

// WeightsFromParams makes every parameter a constant of g (tests, one-off evaluations).
func WeightsFromParams(g *Graph, p Params) Weights { return netgraph.Constants(g, p) }

// Options are the forward's switches.
type Options struct {
	// NoSoftCap skips the attention-logit soft-cap c·tanh(s/c). Gemma-2 is trained with it
	// and transformers' eager attention applies it; its SDPA and some flash kernels do not,
	// so embeddings made through them are reproduced with NoSoftCap.
	NoSoftCap bool
}

// Forward runs Gemma2Model on token ids (B, T) with the padding mask (B, T) (non-zero for
// tokens, zero for padding; nil: all tokens) and returns the last hidden state after the
// final norm, (B, T, D) in the weights' dtype:
//
//	h = E[ids]·cast(√D) ; per layer h = Layer_l(h) ; out = RMSNorm_final(h)
//
// Positions are 0…T−1 whatever the padding (transformers' default position_ids), so right
// padding leaves the real tokens' outputs unchanged and padded positions still get outputs.
func Forward(c Config, w Weights, ids, mask *Node, opts Options) *Node {
	if err := c.Validate(); err != nil {
		panic(fmt.Errorf("gemma.Forward: %w", err))
	}
	if ids == nil || ids.Rank() != 2 || !ids.DType().IsInt() {
		panic(fmt.Errorf("gemma.Forward: ids must be integer (B, T)"))
	}
	B, T := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	if mask != nil && !slices.Equal(mask.Shape().Dimensions, []int{B, T}) {
		panic(fmt.Errorf("gemma.Forward: mask %s does not match ids (%d, %d)", mask.Shape(), B, T))
	}
	h := embed(c, w, ids)
	cos, sin := ropeNodes(ids.Graph(), h.DType(), T, c.HeadDim, c.RopeTheta)
	masks := buildMasks(ids.Graph(), c, mask, B, T)
	for i := range c.NumLayers {
		h = decoderLayer(c, w, LayerPrefix(i), h, cos, sin, masks.forLayer(c, i), opts)
	}
	return rmsNorm(h, w.get(FinalNorm), c.RMSNormEps)
}

// embed looks up the token embeddings and scales them by √D, the constant rounded to the
// weights' dtype first as transformers does (√2304 = 48 is exact in bfloat16).
func embed(c Config, w Weights, ids *Node) *Node {
	table := w.get(EmbedTokens)
	e := Gather(table, ExpandAxes(ConvertDType(ids, dtypes.Int32), -1)) // (B, T, D)
	return Mul(e, ConstAsDType(ids.Graph(), table.DType(), math.Sqrt(float64(c.HiddenSize))))
}

// decoderLayer is one Gemma2DecoderLayer, with "sandwich" norms around both branches:
//
//	h ← h + RMSNorm_post_attn(Attn(RMSNorm_in(h)))
//	h ← h + RMSNorm_post_ff(MLP(RMSNorm_pre_ff(h)))
func decoderLayer(c Config, w Weights, pre string, h, cos, sin, allowed *Node, opts Options) *Node {
	a := attention(c, w, pre, rmsNorm(h, w.get(pre+InputNorm), c.RMSNormEps), cos, sin, allowed, opts)
	h = Add(h, rmsNorm(a, w.get(pre+PostAttnNorm), c.RMSNormEps))
	m := mlp(w, pre, rmsNorm(h, w.get(pre+PreFFNorm), c.RMSNormEps))
	return Add(h, rmsNorm(m, w.get(pre+PostFFNorm), c.RMSNormEps))
}

// rmsNorm is Gemma's RMSNorm over the last axis, computed in float32 (float64 for float64
// inputs) and cast back: y = x·(mean(x²)+ε)^−½ · (1 + w). The weight is stored as an offset
// from one (zero-initialised), unlike Llama's.
func rmsNorm(x, weight *Node, eps float64) *Node {
	cdt := netgraph.WideDType(x.DType())
	xf := netgraph.Cast(x, cdt)
	ms := ReduceAndKeep(Square(xf), ReduceMean, -1)
	y := Mul(xf, Rsqrt(AddScalar(ms, eps)))
	y = Mul(y, ExpandLeftToRank(OnePlus(netgraph.Cast(weight, cdt)), y.Rank()))
	return netgraph.Cast(y, x.DType())
}

// linear returns x·Wᵀ for W in PyTorch layout (out, in), as one 2-D matrix product.
func linear(x, weight *Node) *Node {
	dims := x.Shape().Dimensions
	in, out := dims[len(dims)-1], weight.Shape().Dimensions[0]
	if weight.Shape().Dimensions[1] != in {
		panic(fmt.Errorf("gemma: weight %s does not take inputs of width %d", weight.Shape(), in))
	}
	rows := x.Shape().Size() / max(in, 1)
	y := DotGeneral(Reshape(netgraph.Cast(x, weight.DType()), rows, in), []int{1}, nil, weight, []int{1}, nil) // (rows, out)
	return Reshape(y, append(slices.Clone(dims[:len(dims)-1]), out)...)
}
