package model

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
)

// WeightsFromParams makes every parameter a constant node of g: convenient for tests and
// one-off evaluations. Training code passes parameters as graph inputs instead, see
// WeightsFromNodes.
func WeightsFromParams(g *graph.Graph, p Params) Weights {
	w := make(Weights, len(p))
	for name, t := range p {
		w[name] = graph.ConstTensor(g, t)
	}
	return w
}

// WeightsFromNodes pairs names with graph input nodes, for a graph.Exec whose first inputs are
// the parameters in Params.Sorted order:
//
//	names, values := params.Sorted()
//	exec, _ := graph.NewExec(backend, func(g *graph.Graph, in []*graph.Node) []*graph.Node {
//		w := model.WeightsFromNodes(names, in[:len(names)])
//		…
//	})
//	outs, err := exec.Exec(append(anySlice(values), batchTensors…)…)
func WeightsFromNodes(names []string, nodes []*graph.Node) Weights {
	if len(names) != len(nodes) {
		panic(fmt.Errorf("model.WeightsFromNodes: %d names for %d nodes", len(names), len(nodes)))
	}
	w := make(Weights, len(names))
	for i, n := range names {
		w[n] = nodes[i]
	}
	return w
}

// Args returns the tensors in sorted-name order as []any, ready to be followed by the other
// inputs of a graph.Exec built with WeightsFromNodes.
func (p Params) Args() []any {
	_, ts := p.Sorted()
	args := make([]any, len(ts))
	for i, t := range ts {
		args[i] = t
	}
	return args
}
