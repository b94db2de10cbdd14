package gemma

import (
	"math"

	"github.com/gomlx/compute/dtypes"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// ropeTables returns cos(p·f_i) and sin(p·f_i) for positions p ∈ [0, T) and the headDim/2
// frequencies f_i = 1/θ^(2i/headDim), as (T·headDim/2) row-major float32 tables. It follows
// transformers' float32 arithmetic step by step (exponent 2i/d, θ^e, 1/·, p·f, then cos and
// sin of that float32 angle), so the tables match its rotary embedding to float32 rounding.
func ropeTables(T, headDim int, theta float64) (cos, sin []float32) {
	half := headDim / 2
	freqs := make([]float32, half)
	for i := range freqs {
		e := float32(2*i) / float32(headDim)
		freqs[i] = float32(1 / float64(float32(math.Pow(float64(float32(theta)), float64(e)))))
	}
	cos = make([]float32, T*half)
	sin = make([]float32, T*half)
	for p := range T {
		for i, f := range freqs {
			angle := float64(float32(p) * f)
			cos[p*half+i] = float32(math.Cos(angle))
			sin[p*half+i] = float32(math.Sin(angle))
		}
	}
	return cos, sin
}

// ropeTables64 is ropeTables in float64 throughout, for float64 models.
func ropeTables64(T, headDim int, theta float64) (cos, sin []float64) {
	half := headDim / 2
	cos = make([]float64, T*half)
	sin = make([]float64, T*half)
	for p := range T {
		for i := range half {
			angle := float64(p) / math.Pow(theta, float64(2*i)/float64(headDim))
			cos[p*half+i], sin[p*half+i] = math.Cos(angle), math.Sin(angle)
		}
	}
	return cos, sin
}

// ropeNodes returns the rotary tables as constants shaped (1, T, 1, headDim/2), ready to
// broadcast over (B, T, heads, headDim/2): float32 (transformers' arithmetic) unless dt is
// float64.
func ropeNodes(g *Graph, dt dtypes.DType, T, headDim int, theta float64) (cos, sin *Node) {
	half := headDim / 2
	if netgraph.WideDType(dt) == dtypes.Float64 {
		c, s := ropeTables64(T, headDim, theta)
		return Reshape(Const(g, c), 1, T, 1, half), Reshape(Const(g, s), 1, T, 1, half)
	}
	c, s := ropeTables(T, headDim, theta)
	return Reshape(Const(g, c), 1, T, 1, half), Reshape(Const(g, s), 1, T, 1, half)
}

// applyRope rotates x (B, T, heads, headDim) by position, in the "rotate half" layout of
// Hugging Face checkpoints (pairs are (x_i, x_{i+d/2}), not adjacent):
//
//	[x₁, x₂] ↦ [x₁·cos − x₂·sin, x₂·cos + x₁·sin]
//
// computed in cos's dtype (float32).
func applyRope(x, cos, sin *Node) *Node {
	d := x.Shape().Dimensions[3]
	x = netgraph.Cast(x, cos.DType())
	x1 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, d/2))
	x2 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(d/2, d))
	return Concatenate([]*Node{
		Sub(Mul(x1, cos), Mul(x2, sin)),
		Add(Mul(x2, cos), Mul(x1, sin)),
	}, -1)
}
