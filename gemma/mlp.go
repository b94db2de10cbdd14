package gemma

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// mlp is Gemma-2's GeGLU feed-forward on normed hidden states x (B, T, D):
//
//	out = W_down·( gelu_tanh(W_gate·x) ⊙ (W_up·x) )
//
// The activation and the product run in float32 (float64 for float64 weights), the
// projections in the weights' dtype.
func mlp(w Weights, pre string, x *Node) *Node {
	cdt := computeDType(x.DType())
	gate := toDType(linear(x, w.get(pre+GateProj)), cdt)
	up := toDType(linear(x, w.get(pre+UpProj)), cdt)
	h := toDType(Mul(geluTanh(gate), up), x.DType())
	return linear(h, w.get(pre+DownProj))
}

// geluTanh is GELU with the tanh approximation (transformers' "gelu_pytorch_tanh"):
//
//	gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
func geluTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return MulScalar(Mul(x, OnePlus(Tanh(inner))), 0.5)
}
