package tensorconv

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestConvertEveryPair: every float dtype converts to every other and back through float64
// with the values the element types' own conversions give, dimensions kept.
func TestConvertEveryPair(t *testing.T) {
	vals := []float64{0, 1, -2.5, 0.1, 65504, math.Inf(-1)}
	floats := []dtypes.DType{dtypes.Float64, dtypes.Float32, dtypes.BFloat16, dtypes.Float16}
	for _, from := range floats {
		src, err := FromFloat64s(from, vals, 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		have, err := Float64s(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range floats {
			out, err := Convert(src, to)
			if err != nil {
				t.Fatalf("%s → %s: %v", from, to, err)
			}
			if out.DType() != to || !slices.Equal(out.Shape().Dimensions, []int{2, 3}) {
				t.Fatalf("%s → %s: got %s", from, to, out.Shape())
			}
			got, _ := Float64s(out)
			for i, v := range have {
				if want := rounded(to, v); got[i] != want && !(math.IsNaN(got[i]) && math.IsNaN(want)) {
					t.Errorf("%s → %s [%d]: %v, want %v", from, to, i, got[i], want)
				}
			}
		}
	}
}

// rounded is v stored in dt and read back.
func rounded(dt dtypes.DType, v float64) float64 {
	switch dt {
	case dtypes.Float32:
		return float64(float32(v))
	case dtypes.BFloat16:
		return float64(bfloat16.FromFloat64(v).Float32())
	case dtypes.Float16:
		return float64(float16.FromFloat64(v).Float32())
	}
	return v
}

func TestConvertSameDTypeIsIdentity(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2)
	if y, err := Convert(x, dtypes.Float32); err != nil || y != x {
		t.Errorf("got %v, %v; want t itself", y, err)
	}
}

// TestFloat32s: the values of a bfloat16 tensor and of a float32 one (a copy, not its own data)
// as float32s; a dtype Convert refuses is an error.
func TestFloat32s(t *testing.T) {
	bf, err := FromFloat64s(dtypes.BFloat16, []float64{1, -2.5, 0.5}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Float32s(bf); err != nil || !slices.Equal(got, []float32{1, -2.5, 0.5}) {
		t.Errorf("bfloat16: %v, %v", got, err)
	}
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2)
	got, err := Float32s(x)
	if err != nil || !slices.Equal(got, []float32{1, 2}) {
		t.Fatalf("float32: %v, %v", got, err)
	}
	got[0] = 7
	if v := tensors.MustCopyFlatData[float32](x); v[0] != 1 {
		t.Errorf("Float32s shares the tensor's data: %v", v)
	}
	if _, err := Float32s(tensors.FromFlatDataAndDimensions([]int16{1}, 1)); err == nil {
		t.Error("int16: want an error")
	}
}

func TestConvertMasks(t *testing.T) {
	for _, x := range []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions([]bool{true, false, true}, 3),
		tensors.FromFlatDataAndDimensions([]int64{1, 0, 1}, 3),
		tensors.FromFlatDataAndDimensions([]int32{1, 0, 1}, 3),
		tensors.FromFlatDataAndDimensions([]uint8{1, 0, 1}, 3),
	} {
		y, err := Convert(x, dtypes.BFloat16)
		if err != nil {
			t.Fatalf("%s: %v", x.DType(), err)
		}
		if got, _ := Float64s(y); !slices.Equal(got, []float64{1, 0, 1}) {
			t.Errorf("%s: %v", x.DType(), got)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions([]int16{1}, 1)
	if _, err := Convert(x, dtypes.Float32); err == nil || err.Error() != "cannot convert Int16 to Float32" {
		t.Errorf("int16 source: %v", err)
	}
	y := tensors.FromFlatDataAndDimensions([]float32{1}, 1)
	if _, err := Convert(y, dtypes.Int32); err == nil || !strings.Contains(err.Error(), "cannot convert") {
		t.Errorf("int32 destination: %v", err)
	}
	if _, err := FromFloat64s(dtypes.Float32, []float64{1, 2}, 3); err == nil {
		t.Error("3 dims for 2 values must be an error")
	}
	if empty, err := Convert(tensors.FromShape(shapes.Make(dtypes.Float32, 0, 2)), dtypes.BFloat16); err != nil || empty.Shape().String() != "(BFloat16)[0, 2]" {
		t.Errorf("empty: %v %v", empty, err)
	}
}
