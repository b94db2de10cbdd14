package model

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/netgraph"
	"github.com/sprint-distill/sprint/safetensors"
)

// Params holds parameter values by name (diffusers keys).
type Params map[string]*tensors.Tensor

// SortedNames returns the parameter names in sorted order: the order in which training code
// passes parameters to a graph.Exec (see Params.Sorted and WeightsFromNodes).
func SortedNames(p Params) []string { return slices.Sorted(maps.Keys(p)) }

// Sorted returns the names in sorted order and the tensors in the same order.
func (p Params) Sorted() ([]string, []*tensors.Tensor) { return netgraph.Sorted(p) }

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

// CheckParams compares p against the specs of (cfg, role): it returns an error listing the
// missing, unexpected and mis-shaped names, or nil when they match exactly.
func CheckParams(cfg Config, role Role, p Params) error {
	return checkAgainst(ParamSpecs(cfg, role), p, role.String()+" parameters")
}

// KeysError formats a parameter-set mismatch ("<what> do not match the model config", then
// one line per key); it returns nil when all lists are empty.
func KeysError(what string, missing, unexpected, misshaped []string) error {
	return safetensors.KeysError(what, "the model config", 0, missing, unexpected, misshaped)
}

// Weights maps parameter names (diffusers keys, see ParamSpecs) to graph nodes: parameters,
// constants or anything computed from them. The networks are pure functions of these nodes.
type Weights map[string]*graph.Node

// get returns the weight of a parameter of the table, panicking (the graph-building
// convention; graph.Exec turns it into an error) when it is absent.
func (w Weights) get(p *param) *graph.Node {
	if p == nil {
		panic(fmt.Errorf("model: internal: the forward reads a parameter the table does not declare"))
	}
	return netgraph.Weight(w, "model", p.Name)
}

// WeightsFromParams makes every parameter a constant node of g: convenient for tests and
// one-off evaluations. Training code passes parameters as graph inputs instead, see
// WeightsFromNodes.
func WeightsFromParams(g *graph.Graph, p Params) Weights { return netgraph.Constants(g, p) }

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
	return netgraph.FromNodes("model.WeightsFromNodes", names, nodes)
}
