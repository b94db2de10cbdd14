package distill

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sprint-distill/sprint/model"
)

// sigmaTimeScale is the 0.5 hard-coded in [RS]'s logit_normal_trigflow law: θ = atan(σ/0.5).
// It is not read from σd (§2.1).
const sigmaTimeScale = 0.5

// draws threads a GoMLX RNG state through successive random draws of one step graph.
type draws struct{ state *Node }

func (d *draws) normal(shape shapes.Shape) *Node {
	var v *Node
	d.state, v = RandomNormal(d.state, shape)
	return v
}

func (d *draws) uniform(shape shapes.Shape) *Node {
	var v *Node
	d.state, v = RandomUniform(d.state, shape)
	return v
}

// bernoulli returns a boolean (B,) mask, true with probability p.
func (d *draws) bernoulli(batch int, dtype dtypes.DType, p float64) *Node {
	return LessThan(d.uniform(shapes.Make(dtype, batch)), Scalar(d.state.Graph(), dtype, p))
}

// SampleTrigFlowTime draws one TrigFlow angle per sample from the logit-normal TrigFlow law
// (§2.1, [RS] "logit_normal_trigflow"): σ = exp(P_mean + P_std·n), n ~ N(0,1), θ = atan(σ/0.5).
// It returns the advanced RNG state and θ of shape (batch,).
func SampleTrigFlowTime(rngState *Node, batch int, dtype dtypes.DType, pMean, pStd float64) (newState, theta *Node) {
	d := &draws{state: rngState}
	theta = d.trigFlowTime(batch, dtype, pMean, pStd)
	return d.state, theta
}

func (d *draws) trigFlowTime(batch int, dtype dtypes.DType, pMean, pStd float64) *Node {
	g := d.state.Graph()
	n := d.normal(shapes.Make(dtype, batch))
	sigma := Exp(AddScalar(MulScalar(n, pStd), pMean))
	return StopGradient(Atan2(sigma, Scalar(g, dtype, sigmaTimeScale)))
}

// SampleGuidance draws one guidance scale per sample uniformly from scales (§2.2 point 1).
// It returns the advanced RNG state and w of shape (batch,).
func SampleGuidance(rngState *Node, batch int, dtype dtypes.DType, scales []float64) (newState, w *Node) {
	d := &draws{state: rngState}
	w = d.guidance(batch, dtype, scales)
	return d.state, w
}

func (d *draws) guidance(batch int, dtype dtypes.DType, scales []float64) *Node {
	g := d.state.Graph()
	var idx *Node
	d.state, idx = RandomIntN(d.state, len(scales), shapes.Make(dtypes.Int32, batch))
	table := ConstAsDType(g, dtype, scales)
	return StopGradient(Gather(table, ExpandAxes(idx, -1)))
}

// perSample reshapes a per-sample vector v (B,) to (B, 1, ..., 1) so that it broadcasts against
// x (B, ...).
func perSample(v, x *Node) *Node {
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = x.Shape().Dimensions[0]
	return Reshape(v, dims...)
}

// noised draws fresh noise ε ~ N(0, σd²) and returns x_θ = cosθ·x0 + sinθ·ε (§1 notation, θ (B)).
func (d *draws) noised(x0, theta *Node, sigmaData float64) *Node {
	return model.Renoise(x0, theta, d.normal(x0.Shape()), sigmaData)
}

// largestOr replaces theta by the constant largest where mask is true (§3.4 train_largest_timestep).
func largestOr(mask, theta *Node, largest float64) *Node {
	return Where(mask, Scalar(theta.Graph(), theta.DType(), largest), theta)
}
