package train

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// CAME is the Confidence-guided Adaptive Memory Efficient optimizer (Luo et al. 2023) in
// the variant SANA-Sprint trains with (Sana's CAMEWrapper, reference notes §3.5): the
// second moment is factored into row and column averages for matrices and 1×1
// convolutions, and kept in full for every other shape. Per parameter p with gradient g:
//
//	u ← g² + ε1
//	factored:  R ← β2·R + (1−β2)·rowmean(u);  C ← β2·C + (1−β2)·colmean(u)
//	           û ← g / √(R·Cᵀ / mean(R))
//	full:      V ← β2·V + (1−β2)·u;  û ← g / √V
//	û ← û / max(1, RMS(û)/clip_threshold)
//	m ← β1·m + (1−β1)·û
//	r ← (û − m)² + ε2                                  (instability)
//	factored:  Rr ← β3·Rr + (1−β3)·rowmean(r);  Cr ← β3·Cr + (1−β3)·colmean(r)
//	           update ← m / √(Rr·Crᵀ / mean(Rr))        (confidence-guided)
//	full:      update ← m
//	p ← p − lr·wd·p − lr·update
//
// There is no bias correction. State: "exp_avg/<p>" (m), and either "exp_avg_sq/<p>" (V)
// or "exp_avg_sq_row/<p>", "exp_avg_sq_col/<p>", "exp_avg_res_row/<p>",
// "exp_avg_res_col/<p>" (R, C, Rr, Cr), plus "count".
type CAME struct {
	Beta1, Beta2, Beta3 float64
	Eps1, Eps2          float64
	ClipThreshold       float64
	WeightDecay         float64
}

// Name implements Optimizer.
func (o *CAME) Name() string { return "came" }

// cameMatrix returns the (rows, cols) a parameter shape is factored as, and whether it is:
// matrices, and 1×1 convolution kernels in either [O, I, 1, 1] or [1, 1, I, O] layout.
func cameMatrix(dims []int) (rows, cols int, factored bool) {
	switch {
	case len(dims) == 2:
		return dims[0], dims[1], true
	case len(dims) == 4 && dims[2] == 1 && dims[3] == 1:
		return dims[0], dims[1], true
	case len(dims) == 4 && dims[0] == 1 && dims[1] == 1:
		return dims[2], dims[3], true
	}
	return 0, 0, false
}

// InitState implements Optimizer.
func (o *CAME) InitState(params Group) Group {
	st := Group{countName: initCount()}
	for name, p := range params {
		dt := computeDType(p.DType())
		dims := p.Shape().Dimensions
		st["exp_avg/"+name] = zeros(dt, dims...)
		if rows, cols, ok := cameMatrix(dims); ok {
			st["exp_avg_sq_row/"+name] = zeros(dt, rows)
			st["exp_avg_sq_col/"+name] = zeros(dt, cols)
			st["exp_avg_res_row/"+name] = zeros(dt, rows)
			st["exp_avg_res_col/"+name] = zeros(dt, cols)
		} else {
			st["exp_avg_sq/"+name] = zeros(dt, dims...)
		}
	}
	return st
}

// cameApprox returns 1/√(R·Cᵀ/mean(R)) as a [rows, cols] matrix.
func cameApprox(row, col *graph.Node) *graph.Node {
	rFactor := graph.Rsqrt(graph.Div(row, graph.ReduceAllMean(row)))
	cFactor := graph.Rsqrt(col)
	return graph.Mul(graph.InsertAxes(rFactor, 1), graph.InsertAxes(cFactor, 0))
}

// ema returns β·old + (1−β)·x.
func ema(old, x *graph.Node, beta float64) *graph.Node {
	return graph.Add(graph.MulScalar(old, beta), graph.MulScalar(x, 1-beta))
}

// Update implements Optimizer.
func (o *CAME) Update(g *graph.Graph, params, grads, state map[string]*graph.Node, lr, _ *graph.Node) (map[string]*graph.Node, map[string]*graph.Node) {
	return updateEach(params, grads, state, lr, func(p paramStep, newState map[string]*graph.Node) *graph.Node {
		name, w, grad := p.name, p.w, p.grad
		rows, cols, factored := cameMatrix(p.dims)
		asMatrix := func(x *graph.Node) *graph.Node { return graph.Reshape(x, rows, cols) }
		// factoredScale folds x into the row and column averages kept under slot+"_row/" and
		// slot+"_col/" and returns 1/√(R·Cᵀ/mean(R)) in the parameter's shape.
		factoredScale := func(slot string, x *graph.Node, beta float64) *graph.Node {
			row := ema(mustState(state, slot+"_row/"+name), graph.ReduceMean(asMatrix(x), 1), beta)
			col := ema(mustState(state, slot+"_col/"+name), graph.ReduceMean(asMatrix(x), 0), beta)
			newState[slot+"_row/"+name] = row
			newState[slot+"_col/"+name] = col
			return graph.ReshapeWithShape(cameApprox(row, col), shapes.Make(p.dt, p.dims...))
		}

		sq := graph.AddScalar(graph.Square(grad), o.Eps1)
		var update *graph.Node
		if factored {
			update = graph.Mul(factoredScale("exp_avg_sq", sq, o.Beta2), grad)
		} else {
			v := ema(mustState(state, "exp_avg_sq/"+name), sq, o.Beta2)
			newState["exp_avg_sq/"+name] = v
			update = graph.Mul(graph.Rsqrt(v), grad)
		}
		// RMS clipping of the normalised update.
		rms := graph.Sqrt(graph.ReduceAllMean(graph.Square(update)))
		update = graph.Div(update, graph.MaxScalar(graph.DivScalar(rms, o.ClipThreshold), 1.0))

		m := ema(mustState(state, "exp_avg/"+name), update, o.Beta1)
		newState["exp_avg/"+name] = m
		if factored {
			res := graph.AddScalar(graph.Square(graph.Sub(update, m)), o.Eps2)
			update = graph.Mul(factoredScale("exp_avg_res", res, o.Beta3), m)
		} else {
			update = m
		}
		if o.WeightDecay != 0 {
			w = graph.Sub(w, graph.Mul(graph.MulScalar(p.lr, o.WeightDecay), w))
		}
		return graph.Sub(w, graph.Mul(p.lr, update))
	})
}
