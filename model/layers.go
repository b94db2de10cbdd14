package model

import (
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// linear returns x·Wᵀ + b for W in PyTorch layout (out, in); b may be nil. Written as a
// DotGeneral (not nn.Dense, whose fused op has no second-order gradient). x is flattened to
// (rows, in) around the product, so that the weight gradient (a contraction over rows) needs
// only a 2-D transpose on the Go backend rather than a generic N-D one.
//
// The product names no accumulator dtype. GoMLX's default for half-precision operands, a float32
// accumulator, makes its gradient convert both operands to float32 and multiply in float32: a
// float32 copy of every bfloat16 weight in every backward pass. Without it the gradient's
// products run in the operands' dtype, as the forward's do; backends accumulate a bfloat16
// product in float32 anyway (the Go backend always does, XLA on GPU by default), so the results
// differ only in the order of the float32 sums.
func linear(x, weight, bias *Node) *Node {
	dims := x.Shape().Dimensions
	in, out := dims[len(dims)-1], weight.Shape().Dimensions[0]
	rows := x.Shape().Size() / max(in, 1)
	y := Dot(Reshape(x, rows, in), weight).WithAccumulatorDType(dtypes.InvalidDType).General([]int{1}, nil, []int{1}, nil) // (rows, out)
	if bias != nil {
		y = Add(y, Reshape(bias, 1, out))
	}
	return Reshape(y, append(slices.Clone(dims[:len(dims)-1]), out)...)
}

// apply returns x·Wᵀ + b for a Linear layer, its weight and bias (if it has one) taken from w.
func (l linearParams) apply(w Weights, x *Node) *Node {
	var bias *Node
	if l.bias != nil {
		bias = w.get(l.bias)
	}
	return linear(x, w.get(l.weight), bias)
}

// rmsNorm returns x/√(mean(x²)+ε)·weight over the last axis, in float32 for half dtypes.
// It uses Sqrt, not Rsqrt (which has no gradient in GoMLX).
func rmsNorm(x, weight *Node, eps float64) *Node {
	xf := netgraph.Cast(x, netgraph.WideDType(x.DType()))
	ms := ReduceAndKeep(Square(xf), ReduceMean, -1)
	y := netgraph.Cast(Div(xf, Sqrt(AddScalar(ms, eps))), x.DType())
	return Mul(y, ExpandLeftToRank(netgraph.Cast(weight, x.DType()), y.Rank()))
}

// layerNorm normalises over the last axis without affine parameters: (x−μ)/√(σ²+ε).
func layerNorm(x *Node, eps float64) *Node {
	xf := netgraph.Cast(x, netgraph.WideDType(x.DType()))
	c := Sub(xf, ReduceAndKeep(xf, ReduceMean, -1))
	v := ReduceAndKeep(Square(c), ReduceMean, -1)
	return netgraph.Cast(Div(c, Sqrt(AddScalar(v, eps))), x.DType())
}

func silu(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// relu is max(x, 0) against a scalar zero: a zero tensor of x's shape (ZerosLike) would be
// materialised in the forward pass and kept until the backward pass reads it.
func relu(x *Node) *Node { return MaxScalar(x, 0.0) }

// geluTanh is GELU with the tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
func geluTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return MulScalar(Mul(x, OnePlus(Tanh(inner))), 0.5)
}
