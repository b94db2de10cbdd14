package train

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Compile builds and compiles the step graph for these inputs without running a step, and
// returns the compiled graph (its Executable carries the backend's compile-time statistics,
// where the backend has them). Step compiles on first use by itself; Compile lets a benchmark
// time compilation apart from execution. It is for single-device steppers.
func (s *Stepper) Compile(trainable, frozen, buffers, optState Group, batch map[string]*tensors.Tensor) (*graph.Graph, error) {
	if s.dp != nil && s.dp.Devices() > 1 {
		return nil, fmt.Errorf("stepper %s: Compile is for single-device steppers", s.name)
	}
	layout := stepLayout{
		trainable: trainable.Names(), frozen: Group(frozen).Names(), buffers: Group(buffers).Names(),
		state: optState.Names(), batch: slices.Sorted(maps.Keys(batch)),
	}
	se, err := s.execFor(layout)
	if err != nil {
		return nil, err
	}
	var argShapes []shapes.Shape
	for _, part := range []struct {
		names []string
		m     map[string]*tensors.Tensor
	}{{layout.trainable, trainable}, {layout.frozen, frozen}, {layout.buffers, buffers}, {layout.state, optState}, {layout.batch, batch}} {
		for _, n := range part.names {
			argShapes = append(argShapes, part.m[n].Shape())
		}
	}
	argShapes = append(argShapes, graph.RNGStateShape, shapes.Make(dtypes.Float32), shapes.Make(dtypes.Int64))
	g, err := se.exec.Compile(argShapes...)
	if err != nil {
		return nil, fmt.Errorf("stepper %s: compiling: %w", s.name, err)
	}
	return g, nil
}
