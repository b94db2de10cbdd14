package ops_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/internal/gobackend/ops"
	"github.com/gomlx/compute/shapes"
)

// broadcastReference computes op over the broadcast of lhs and rhs (same rank) to tgt.
func broadcastReference(op func(a, b float32) float32, lhsDims, rhsDims, tgtDims []int, lhs, rhs []float32) []float32 {
	size := 1
	for _, d := range tgtDims {
		size *= d
	}
	out := make([]float32, size)
	idx := make([]int, len(tgtDims))
	for o := range out {
		r := o
		for a := len(tgtDims) - 1; a >= 0; a-- {
			idx[a] = r % tgtDims[a]
			r /= tgtDims[a]
		}
		li, ri := 0, 0
		for a := range tgtDims {
			li = li*lhsDims[a] + min(idx[a], lhsDims[a]-1)
			ri = ri*rhsDims[a] + min(idx[a], rhsDims[a]-1)
		}
		out[o] = op(lhs[li], rhs[ri])
	}
	return out
}

// TestBinaryBroadcastMiddle checks the [A, M, B] ⊙ [A, 1, B] patterns (either side repeated,
// repeated blocks of one or two axes, axes of size 1 in the target) for the SIMD executors
// (Add, Sub, Mul, Div, Max, Min in float32) and a generic one (Pow), against a naive reference.
func TestBinaryBroadcastMiddle(t *testing.T) {
	type opCase struct {
		name string
		fn   func(f *gobackend.Function, lhs, rhs compute.Value) (compute.Value, error)
		ref  func(a, b float32) float32
	}
	opCases := []opCase{
		{"Add", ops.Add, func(a, b float32) float32 { return a + b }},
		{"Sub", ops.Sub, func(a, b float32) float32 { return a - b }},
		{"Mul", ops.Mul, func(a, b float32) float32 { return a * b }},
		{"Div", ops.Div, func(a, b float32) float32 { return a / b }},
		{"Max", ops.Max, func(a, b float32) float32 { return max(a, b) }},
		{"Min", ops.Min, func(a, b float32) float32 { return min(a, b) }},
		{"Pow", ops.Pow, func(a, b float32) float32 { return float32(math.Pow(float64(a), float64(b))) }},
	}
	shapeCases := []struct{ lhs, rhs []int }{
		{[]int{2, 3, 4}, []int{2, 1, 4}},               // RHS repeated along tokens
		{[]int{2, 1, 4}, []int{2, 3, 4}},               // LHS repeated
		{[]int{3, 4, 2, 17}, []int{3, 1, 1, 17}},       // a block of two axes, odd inner size
		{[]int{2, 1, 5, 1, 33}, []int{2, 1, 1, 1, 33}}, // target axes of size 1
	}
	for _, sc := range shapeCases {
		tgt := make([]int, len(sc.lhs))
		for a := range tgt {
			tgt[a] = max(sc.lhs[a], sc.rhs[a])
		}
		fill := func(dims []int, seed int) []float32 {
			n := 1
			for _, d := range dims {
				n *= d
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = 0.5 + float32((i*seed+3)%17)/8 // positive: Pow and Div stay finite
			}
			return v
		}
		lhs, rhs := fill(sc.lhs, 5), fill(sc.rhs, 11)
		for _, oc := range opCases {
			t.Run(fmt.Sprintf("%s_%v_%v", oc.name, sc.lhs, sc.rhs), func(t *testing.T) {
				want := broadcastReference(oc.ref, sc.lhs, sc.rhs, tgt, lhs, rhs)
				runBinaryTestTol(t, oc.name, oc.fn, shapes.Make(dtypes.Float32, sc.lhs...), lhs,
					shapes.Make(dtypes.Float32, sc.rhs...), rhs, want)
			})
		}
	}
}

// runBinaryTestTol is runBinaryTest for float32 results compared with a relative tolerance.
func runBinaryTestTol(t *testing.T, opName string, opFn func(f *gobackend.Function, lhs, rhs compute.Value) (compute.Value, error),
	lhsShape shapes.Shape, lhsData []float32, rhsShape shapes.Shape, rhsData []float32, expected []float32) {
	t.Helper()
	builder := backend.Builder(opName).(*gobackend.Builder)
	main := builder.Main().(*gobackend.Function)
	lhsNode, err := main.Parameter("lhs", lhsShape, nil)
	if err != nil {
		t.Fatal(err)
	}
	rhsNode, err := main.Parameter("rhs", rhsShape, nil)
	if err != nil {
		t.Fatal(err)
	}
	outNode, err := opFn(main, lhsNode, rhsNode)
	if err != nil {
		t.Fatal(err)
	}
	if err := main.Return([]compute.Value{outNode}, nil); err != nil {
		t.Fatal(err)
	}
	exec, err := builder.Compile()
	if err != nil {
		t.Fatal(err)
	}
	lhsBuf, err := backend.BufferFromFlatData(0, lhsData, lhsShape)
	if err != nil {
		t.Fatal(err)
	}
	rhsBuf, err := backend.BufferFromFlatData(0, rhsData, rhsShape)
	if err != nil {
		t.Fatal(err)
	}
	outputs, err := exec.Execute([]compute.Buffer{lhsBuf, rhsBuf}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := outputs[0].(*gobackend.Buffer).Flat.([]float32)
	if len(got) != len(expected) {
		t.Fatalf("got %d values, want %d", len(got), len(expected))
	}
	for i := range expected {
		if d := math.Abs(float64(got[i] - expected[i])); d > 1e-5*math.Abs(float64(expected[i])) {
			t.Fatalf("value %d: got %v, want %v", i, got[i], expected[i])
		}
	}
}
