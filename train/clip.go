package train

import (
	"maps"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// clipEps is added to the norm in the clipping coefficient, as torch.nn.utils.clip_grad_norm_ does.
const clipEps = 1e-6

// GlobalNorm returns the L2 norm of all gradients taken together, √(Σ‖g‖²), accumulated in
// float32 (float64 if any gradient is float64).
func GlobalNorm(grads map[string]*graph.Node) *graph.Node {
	if len(grads) == 0 {
		return nil
	}
	dt := dtypes.Float32
	for _, gr := range grads {
		if gr.DType() == dtypes.Float64 {
			dt = dtypes.Float64
		}
	}
	var sum *graph.Node
	for _, name := range slices.Sorted(maps.Keys(grads)) {
		s := graph.ReduceAllSum(graph.Square(graph.ConvertDType(grads[name], dt)))
		if sum == nil {
			sum = s
		} else {
			sum = graph.Add(sum, s)
		}
	}
	return graph.Sqrt(sum)
}

// ClipByGlobalNorm scales every gradient by min(1, maxNorm/(‖g‖+1e-6)), where ‖g‖ is the
// global norm (torch.nn.utils.clip_grad_norm_). It returns the clipped gradients and the
// norm before clipping. maxNorm <= 0 leaves the gradients unchanged.
func ClipByGlobalNorm(grads map[string]*graph.Node, maxNorm float64) (clipped map[string]*graph.Node, norm *graph.Node) {
	norm = GlobalNorm(grads)
	if maxNorm <= 0 || norm == nil {
		return grads, norm
	}
	coef := graph.MinScalar(graph.Div(graph.Scalar(norm.Graph(), norm.DType(), maxNorm), graph.AddScalar(norm, clipEps)), 1.0)
	clipped = make(map[string]*graph.Node, len(grads))
	for name, gr := range grads {
		clipped[name] = graph.Mul(gr, graph.ConvertDType(coef, gr.DType()))
	}
	return clipped, norm
}
