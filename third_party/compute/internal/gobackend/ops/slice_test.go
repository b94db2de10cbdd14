package ops_test

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// sliceReference is a naive Slice: every output element read from its operand coordinates.
func sliceReference(dims, starts, limits, strides []int, in []float64) []float64 {
	rank := len(dims)
	outDims := make([]int, rank)
	size := 1
	for a := range rank {
		outDims[a] = (limits[a] - starts[a] + strides[a] - 1) / strides[a]
		size *= outDims[a]
	}
	out := make([]float64, size)
	idx := make([]int, rank)
	for o := range out {
		r := o
		for a := rank - 1; a >= 0; a-- {
			idx[a] = r % outDims[a]
			r /= outDims[a]
		}
		flat := 0
		for a := range rank {
			flat = flat*dims[a] + starts[a] + idx[a]*strides[a]
		}
		out[o] = in[flat]
	}
	return out
}

// runSlice executes one Slice on the Go backend with operand values in (converted to dtype) and
// returns the result as float64.
func runSlice(t *testing.T, dtype dtypes.DType, dims, starts, limits, strides []int, in []float64) []float64 {
	t.Helper()
	builder := backend.Builder("test_slice")
	mainFn := builder.Main()
	x, err := mainFn.Parameter("x", shapes.Make(dtype, dims...), nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := mainFn.Slice(x, starts, limits, strides)
	if err != nil {
		t.Fatal(err)
	}
	if err := mainFn.Return([]compute.Value{y}, nil); err != nil {
		t.Fatal(err)
	}
	exec, err := builder.Compile()
	if err != nil {
		t.Fatal(err)
	}
	var flat any
	switch dtype {
	case dtypes.Float32:
		v := make([]float32, len(in))
		for i, x := range in {
			v[i] = float32(x)
		}
		flat = v
	case dtypes.Float64:
		flat = in
	case dtypes.Int8:
		v := make([]int8, len(in))
		for i, x := range in {
			v[i] = int8(x)
		}
		flat = v
	default:
		t.Fatalf("dtype %s not handled by the test", dtype)
	}
	outs, err := exec.Execute([]compute.Buffer{makeBuffer(t, shapes.Make(dtype, dims...), flat)}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	shape, err := outs[0].Shape()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float64, shape.Size())
	switch dtype {
	case dtypes.Float32:
		v := make([]float32, shape.Size())
		if err := outs[0].ToFlatData(v); err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			got[i] = float64(x)
		}
	case dtypes.Float64:
		if err := outs[0].ToFlatData(got); err != nil {
			t.Fatal(err)
		}
	case dtypes.Int8:
		v := make([]int8, shape.Size())
		if err := outs[0].ToFlatData(v); err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			got[i] = float64(x)
		}
	}
	return got
}

// TestSliceContiguousRuns checks slices that take the contiguous-runs path (unit strides, runs of
// at least sliceMinRunBytes, one large enough to be split among workers) and some that do not,
// against a naive reference.
func TestSliceContiguousRuns(t *testing.T) {
	cases := []struct {
		dtype                dtypes.DType
		dims, starts, limits []int
		strides              []int // nil: all 1
	}{
		{dtypes.Float32, []int{2, 18, 18, 40}, []int{0, 1, 2, 0}, []int{2, 17, 18, 40}, nil},    // depthwise tap, channels last
		{dtypes.Float32, []int{40, 2, 18, 18}, []int{0, 0, 2, 1}, []int{40, 2, 18, 17}, nil},    // runs of 16 floats
		{dtypes.Float32, []int{40, 2, 18, 18}, []int{0, 0, 2, 1}, []int{40, 2, 18, 3}, nil},     // runs of 2 floats: generic loop
		{dtypes.Float32, []int{6, 7, 9}, []int{0, 0, 0}, []int{6, 7, 9}, nil},                   // the whole operand
		{dtypes.Float32, []int{6, 7, 9}, []int{2, 0, 0}, []int{5, 7, 9}, nil},                   // leading axis only
		{dtypes.Float32, []int{100}, []int{13}, []int{91}, nil},                                 // 1-D
		{dtypes.Float64, []int{3, 5, 4, 8}, []int{1, 1, 0, 0}, []int{3, 4, 4, 8}, nil},          // float64
		{dtypes.Int8, []int{3, 70, 50}, []int{1, 3, 2}, []int{3, 60, 49}, nil},                  // 1-byte elements
		{dtypes.Float32, []int{64, 66, 130}, []int{0, 1, 1}, []int{64, 65, 129}, nil},           // > 1 MiB out: workers
		{dtypes.Float32, []int{8, 20, 30}, []int{0, 1, 0}, []int{8, 19, 30}, []int{1, 2, 1}},    // strided: generic
		{dtypes.Float32, []int{4, 10, 64}, []int{1, 2, 3}, []int{4, 9, 61}, []int{1, 1, 1}},     // explicit unit strides
		{dtypes.Float32, []int{5, 0, 3}, []int{0, 0, 0}, []int{5, 0, 3}, nil},                   // empty
		{dtypes.Float32, []int{2, 3, 4, 5, 6}, []int{1, 0, 1, 2, 0}, []int{2, 3, 3, 5, 6}, nil}, // rank 5
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s_%v", i, c.dtype, c.dims), func(t *testing.T) {
			strides := c.strides
			if strides == nil {
				strides = make([]int, len(c.dims))
				for a := range strides {
					strides[a] = 1
				}
			}
			size := 1
			for _, d := range c.dims {
				size *= d
			}
			in := make([]float64, size)
			for j := range in {
				in[j] = float64((j*7 + 3) % 101) // fits int8
			}
			want := sliceReference(c.dims, c.starts, c.limits, strides, in)
			got := runSlice(t, c.dtype, c.dims, c.starts, c.limits, c.strides, in)
			if len(got) != len(want) {
				t.Fatalf("got %d values, want %d", len(got), len(want))
			}
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("value %d: got %v, want %v", j, got[j], want[j])
				}
			}
		})
	}
}
