package netgraph

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Weight returns the weight name of w, panicking with "<network>: weight "name" is missing"
// when it is absent or nil (the graph-building convention; graph.Exec turns the panic into an
// error).
func Weight(w map[string]*graph.Node, network, name string) *graph.Node {
	n, ok := w[name]
	if !ok || n == nil {
		panic(fmt.Errorf("%s: weight %q is missing", network, name))
	}
	return n
}

// FromNodes pairs names with nodes, the weights of a graph.Exec whose first inputs are the
// parameters in sorted-name order (see Sorted). It panics, naming caller, when there are not
// as many names as nodes.
func FromNodes(caller string, names []string, nodes []*graph.Node) map[string]*graph.Node {
	if len(names) != len(nodes) {
		panic(fmt.Errorf("%s: %d names for %d nodes", caller, len(names), len(nodes)))
	}
	w := make(map[string]*graph.Node, len(names))
	for i, n := range names {
		w[n] = nodes[i]
	}
	return w
}

// Constants makes every tensor of p a constant node of g.
func Constants(g *graph.Graph, p map[string]*tensors.Tensor) map[string]*graph.Node {
	w := make(map[string]*graph.Node, len(p))
	for name, t := range p {
		w[name] = graph.ConstTensor(g, t)
	}
	return w
}

// Sorted returns the names of p in sorted order and its tensors in the same order: the order
// in which the networks pass parameters to a graph.Exec.
func Sorted(p map[string]*tensors.Tensor) ([]string, []*tensors.Tensor) {
	names := slices.Sorted(maps.Keys(p))
	ts := make([]*tensors.Tensor, len(names))
	for i, n := range names {
		ts[i] = p[n]
	}
	return names, ts
}

// WideDType is the dtype that norms and attention over values of dtype dt run in: float64
// stays float64, anything else (float32, bfloat16, float16) is float32.
func WideDType(dt dtypes.DType) dtypes.DType {
	if dt == dtypes.Float64 {
		return dtypes.Float64
	}
	return dtypes.Float32
}

// Cast returns x converted to dtype dt, x itself when it already has it.
func Cast(x *graph.Node, dt dtypes.DType) *graph.Node {
	if x.DType() == dt {
		return x
	}
	return graph.ConvertDType(x, dt)
}
