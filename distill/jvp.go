package distill

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// JVP computes the outputs of f at primals and their Jacobian-vector products along tangents,
// the forward-mode derivative d/dε f(primals + ε·tangents) at ε = 0.
//
// GoMLX has reverse mode only, so JVP uses the "double VJP" identity: with u zero tensors shaped
// like the outputs, the VJP uᵀ·J is linear in u, and differentiating ⟨uᵀJ, v⟩ with respect to u
// gives J·v exactly (no finite differences). Every op on f's path needs a gradient of its
// gradient (see the project's STACK notes: no Rsqrt, no fused dense layers).
//
// Variables f closes over (weights, text) are held fixed: the derivative is only along primals.
// The outputs are f's own outputs, so a caller can reuse them (they keep their gradients); the
// jvps do too: wrap them in StopGradient where the algorithm treats them as constants (§2.4).
// primals and tangents must have matching shapes; outputs that are not floats get nil jvps.
func JVP(f func(inputs []*Node) []*Node, primals, tangents []*Node) (outputs, jvps []*Node) {
	if len(primals) == 0 {
		exceptions.Panicf("distill.JVP: no primals given")
	}
	if len(primals) != len(tangents) {
		exceptions.Panicf("distill.JVP: %d primals but %d tangents", len(primals), len(tangents))
	}
	for i := range primals {
		if !primals[i].Shape().Equal(tangents[i].Shape()) {
			exceptions.Panicf("distill.JVP: primal %d has shape %s but its tangent has shape %s",
				i, primals[i].Shape(), tangents[i].Shape())
		}
	}
	g := primals[0].Graph()
	// f sees fresh copies of the primals, so the derivative is the partial one along each input
	// even where one primal is computed from another in the caller's graph (x_θ from θ, say).
	// The copies are optimization barriers, not Identity nodes, so that the outputs keep their
	// gradients to whatever the primals depend on (GoMLX has no gradient for Identity).
	inputs := make([]*Node, len(primals))
	for i, p := range primals {
		inputs[i] = OptimizationBarrier(p)
	}
	outputs = f(inputs)
	jvps = make([]*Node, len(outputs))

	// s(u) = Σ_k ⟨u_k, y_k⟩ at u = 0; ∂s/∂x = Σ_k J_kᵀ u_k.
	var us []*Node
	var outIdx []int
	var s *Node
	for k, y := range outputs {
		if y == nil || !y.DType().IsFloat() {
			continue
		}
		u := Zeros(g, y.Shape())
		us = append(us, u)
		outIdx = append(outIdx, k)
		s = sumTerm(s, ReduceAllSum(Mul(u, y)))
	}
	if s == nil {
		return outputs, jvps
	}
	vjps := Gradient(s, inputs...)

	// t(u) = Σ_i ⟨J_iᵀu, v_i⟩; ∂t/∂u_k = J_k·v.
	var t *Node
	for i, vjp := range vjps {
		t = sumTerm(t, ReduceAllSum(Mul(vjp, ConvertDType(tangents[i], vjp.DType()))))
	}
	tangentOut := Gradient(t, us...)
	for j, k := range outIdx {
		jvps[k] = tangentOut[j]
	}
	return outputs, jvps
}

func sumOrFirst(acc, x *Node) *Node {
	if acc == nil {
		return x
	}
	return Add(acc, x)
}

// sumTerm adds the scalar x to acc, both in float32 when one is half precision, so that outputs
// and primals of different float dtypes (a bfloat16 activation and a float32 time) can be mixed.
func sumTerm(acc, x *Node) *Node {
	if x.DType().IsHalfPrecision() || (acc != nil && acc.DType() != x.DType()) {
		x = ConvertDType(x, dtypes.Float32)
		if acc != nil && acc.DType() != dtypes.Float32 {
			acc = ConvertDType(acc, dtypes.Float32)
		}
	}
	return sumOrFirst(acc, x)
}
