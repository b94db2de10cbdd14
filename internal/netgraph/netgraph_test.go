package netgraph

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

func TestWeightsAndCasts(t *testing.T) {
	p := map[string]*tensors.Tensor{
		"b": tensors.FromValue([]float32{1, 2}),
		"a": tensors.FromValue([]float32{3}),
	}
	names, values := Sorted(p)
	if !slices.Equal(names, []string{"a", "b"}) || values[0] != p["a"] || values[1] != p["b"] {
		t.Fatalf("Sorted = %v, %v", names, values)
	}
	out, err := graph.ExecOnceN(testbackend.Get(t), func(in []*graph.Node) []*graph.Node {
		w := FromNodes("test", names, in)
		c := Constants(in[0].Graph(), p)
		a := Weight(w, "test", "a")
		if Cast(a, dtypes.Float32) != a {
			panic("Cast to the node's own dtype must return the node")
		}
		return []*graph.Node{
			Cast(graph.Add(a, Weight(c, "test", "a")), WideDType(dtypes.Float64)),
			Cast(Weight(w, "test", "b"), WideDType(dtypes.BFloat16)),
		}
	}, values[0], values[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Value(); out[0].DType() != dtypes.Float64 || fmt.Sprint(got) != "[6]" {
		t.Errorf("a+a in float64 = %v (%s)", got, out[0].DType())
	}
	if out[1].DType() != dtypes.Float32 {
		t.Errorf("bfloat16 widens to %s, want Float32", out[1].DType())
	}
}

func TestMissingWeightPanics(t *testing.T) {
	for _, c := range []struct {
		what string
		fn   func()
		want string
	}{
		{"missing", func() { Weight(map[string]*graph.Node{"x": nil}, "vae", "x") }, `vae: weight "x" is missing`},
		{"counts", func() { FromNodes("model.WeightsFromNodes", []string{"a"}, nil) }, "model.WeightsFromNodes: 1 names for 0 nodes"},
	} {
		func() {
			defer func() {
				if r := recover(); fmt.Sprint(r) != c.want {
					t.Errorf("%s: panic %v, want %q", c.what, r, c.want)
				}
			}()
			c.fn()
		}()
	}
}
