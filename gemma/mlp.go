package gemma

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// mlp is Gemma-2's GeGLU feed-forward on normed hidden states x (B, T, D):
//
//	out = W_down·( gelu_tanh(W_gate·x) ⊙ (W_up·x) )
//
// The activation and the product run in float32 (float64 for float64 weights), the
// projections in the weights' dtype.
func mlp(w Weights, pre string, x *Node) *Node {
	cdt := netgraph.WideDType(x.DType())
	gate := netgraph.Cast(linear(x, w.get(pre+GateProj)), cdt)
	up := netgraph.Cast(linear(x, w.get(pre+UpProj)), cdt)
	h := netgraph.Cast(Mul(geluTanh(gate), up), x.DType())
	return linear(h, w.get(pre+DownProj))
}

// geluTanh is GELU with the tanh approximation (transformers' "gelu_pytorch_tanh"):
//
//	gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
func geluTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return MulScalar(Mul(x, OnePlus(Tanh(inner))), 0.5)
}
