package train

import (
	"github.com/gomlx/gomlx/core/graph"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW
// computes it, per parameter p with gradient g at update count t:
//
//	p ← p·(1 − lr·wd)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
//
// State: "exp_avg/<p>" (m), "exp_avg_sq/<p>" (v) and "count" (t, int64).
type AdamW struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
}

// Name implements Optimizer.
func (o *AdamW) Name() string { return "adamw" }

// InitState implements Optimizer.
func (o *AdamW) InitState(params Group) Group {
	st := Group{countName: initCount()}
	for name, p := range params {
		dt := computeDType(p.DType())
		st["exp_avg/"+name] = zeros(dt, p.Shape().Dimensions...)
		st["exp_avg_sq/"+name] = zeros(dt, p.Shape().Dimensions...)
	}
	return st
}

// Update implements Optimizer.
func (o *AdamW) Update(g *graph.Graph, params, grads, state map[string]*graph.Node, lr, _ *graph.Node) (map[string]*graph.Node, map[string]*graph.Node) {
	return updateEach(params, grads, state, lr, func(p paramStep, newState map[string]*graph.Node) *graph.Node {
		t := graph.ConvertDType(p.count, p.dt)
		scalar := func(v float64) *graph.Node { return graph.Scalar(g, p.dt, v) }
		w, grad := p.w, p.grad
		m := mustState(state, "exp_avg/"+p.name)
		v := mustState(state, "exp_avg_sq/"+p.name)

		m = graph.Add(graph.MulScalar(m, o.Beta1), graph.MulScalar(grad, 1-o.Beta1))
		v = graph.Add(graph.MulScalar(v, o.Beta2), graph.MulScalar(graph.Square(grad), 1-o.Beta2))
		if o.WeightDecay != 0 {
			w = graph.Mul(w, graph.OneMinus(graph.MulScalar(p.lr, o.WeightDecay)))
		}
		biasCorrection1 := graph.OneMinus(graph.Pow(scalar(o.Beta1), t))
		biasCorrection2 := graph.OneMinus(graph.Pow(scalar(o.Beta2), t))
		denom := graph.AddScalar(graph.Div(graph.Sqrt(v), graph.Sqrt(biasCorrection2)), o.Eps)
		stepSize := graph.Div(p.lr, biasCorrection1)
		newState["exp_avg/"+p.name] = m
		newState["exp_avg_sq/"+p.name] = v
		return graph.Sub(w, graph.Mul(stepSize, graph.Div(m, denom)))
	})
}
