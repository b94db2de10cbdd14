package vae

import (
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

// testBackend is the shared test backend (internal/testbackend); GOMLX_BACKEND overrides its
// config, e.g. "go:ops_sequential" for benchmark experiments.
func testBackend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// evalGraph runs fn once on the given input tensors and returns its outputs.
func evalGraph(t testing.TB, fn func(in []*graph.Node) []*graph.Node, args ...*tensors.Tensor) []*tensors.Tensor {
	t.Helper()
	exec, err := graph.NewExec(testBackend(t), func(g *graph.Graph, in []*graph.Node) []*graph.Node { return fn(in) })
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	anyArgs := make([]any, len(args))
	for i, a := range args {
		anyArgs[i] = a
	}
	outs, err := exec.Exec(anyArgs...)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// tensorOf builds a float32 tensor from float64 values.
func tensorOf(vals []float64, dims ...int) *tensors.Tensor {
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}
