package model

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// TrigFlow wraps the flow-matching network as a TrigFlow model F(x̂, θ) (reference notes §1),
// without retraining. With x̂ = x_θ/σd the unit-variance input and θ ∈ [0, π/2] (B):
//
//	t = sinθ/(sinθ+cosθ),  x_flow = x̂/(sinθ+cosθ) = x̂·√(t²+(1−t)²)
//	v = Forward(x_flow, t, text, mask, guidance)
//	F = [(1−2t)·x_flow + (1−2t+2t²)·v]/√(t²+(1−t)²)
//
// For an exact flow model F = cosθ·n − sinθ·x0_n = dx̂/dθ. guidance is nil for the teacher.
// It returns F (B, C, H, W), the student's logvar (B) (nil for the teacher) and the outputs
// of featureBlocks. F is in float32 for a half compute dtype (float64 for float64 models).
func TrigFlow(cfg Config, w Weights, xhat, theta, text, mask, guidance *Node, featureBlocks []int) (F *Node, logvar *Node, features []*Node) {
	cfg, table := tableFor(cfg, guidance)
	dt := outerDType(cfg) // the transforms keep full precision; the network converts to model.dtype
	xFlow, t := trigflowInput(netgraph.Cast(xhat, dt), netgraph.Cast(theta, dt))
	out := forward(cfg, table, w, Inputs{X: xFlow, T: t, Text: text, Mask: mask, Guidance: guidance}, featureBlocks)
	return trigflowOutput(xFlow, t, out.V), out.Logvar, out.Features
}

// trigflowInput is the input transform: t = sinθ/(sinθ+cosθ), x_flow = x̂/(sinθ+cosθ).
func trigflowInput(xhat, theta *Node) (xFlow, t *Node) {
	sin, cos := Sin(theta), Cos(theta)
	sum := Add(sin, cos)
	return Div(xhat, perSample(sum, xhat.Rank())), Div(sin, sum)
}

// trigflowOutput is the output transform F = [(1−2t)·x_flow + (1−2t+2t²)·v]/√(t²+(1−t)²).
func trigflowOutput(xFlow, t, v *Node) *Node {
	rank := xFlow.Rank()
	oneMinus2t := OneMinus(MulScalar(t, 2))
	cx := perSample(oneMinus2t, rank)                               // 1−2t
	cv := perSample(Add(oneMinus2t, MulScalar(Square(t), 2)), rank) // 1−2t+2t²
	norm := perSample(Sqrt(Add(Square(t), Square(OneMinus(t)))), rank)
	return Div(Add(Mul(cx, xFlow), Mul(cv, netgraph.Cast(v, xFlow.DType()))), norm)
}

// ThetaToT maps TrigFlow time to flow time: t = sinθ/(sinθ+cosθ).
func ThetaToT(theta *Node) *Node {
	sin := Sin(theta)
	return Div(sin, Add(sin, Cos(theta)))
}

// TToTheta maps flow time to TrigFlow time: θ = atan(t/(1−t)) = atan2(t, 1−t). It is meant for
// values, not gradients (GoMLX defines no gradient for Atan2).
func TToTheta(t *Node) *Node { return Atan2(t, OneMinus(t)) }

// DenoiseStep returns the denoised estimate x̂0 = cosθ·x − sinθ·σd·F, with x = x_θ in
// unnormalised units (B, C, H, W), θ (B) and F the TrigFlow output at (x/σd, θ).
func DenoiseStep(x, theta, F *Node, sigmaData float64) *Node {
	theta = netgraph.Cast(theta, x.DType())
	cos := perSample(Cos(theta), x.Rank())
	sin := perSample(Sin(theta), x.Rank())
	return Sub(Mul(cos, x), MulScalar(Mul(sin, netgraph.Cast(F, x.DType())), sigmaData))
}

// Renoise returns x_θ = cosθ·x0 + sinθ·σd·ε for unit noise ε, the sampler's re-injection step.
func Renoise(x0, theta, eps *Node, sigmaData float64) *Node {
	theta = netgraph.Cast(theta, x0.DType())
	cos := perSample(Cos(theta), x0.Rank())
	sin := perSample(Sin(theta), x0.Rank())
	return Add(Mul(cos, x0), MulScalar(Mul(sin, netgraph.Cast(eps, x0.DType())), sigmaData))
}

// Schedule returns the sampler's θ list (§7), from θmax down to 0, steps+1 values:
// 1 step: [θmax, 0]; 2 steps with thetaMid > 0: [θmax, θmid, 0]; otherwise
// linspace(θmax, 0, steps+1). The defaults are θmax = 1.57080 and θmid = 1.3. It returns nil
// for steps < 1.
func Schedule(steps int, thetaMax, thetaMid float64) []float64 {
	switch {
	case steps < 1:
		return nil
	case steps == 2 && thetaMid > 0:
		return []float64{thetaMax, thetaMid, 0}
	}
	s := make([]float64, steps+1)
	for i := range s {
		s[i] = thetaMax * float64(steps-i) / float64(steps)
	}
	s[steps] = 0
	return s
}

// DefaultThetaMax and DefaultThetaMid are the sampler defaults (§7).
const (
	DefaultThetaMax = 1.57080
	DefaultThetaMid = 1.3
)

// perSample reshapes a (B) node to (B, 1, …, 1) of the given rank for broadcasting.
func perSample(v *Node, rank int) *Node {
	if v.Rank() != 1 {
		panic(fmt.Errorf("model: per-sample value must be (B), got %s", v.Shape()))
	}
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = v.Shape().Dimensions[0]
	return Reshape(v, dims...)
}
