package tensortest

import (
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestFloats(t *testing.T) {
	bf := tensors.FromFlatDataAndDimensions([]bfloat16.BFloat16{bfloat16.FromFloat32(1.5), bfloat16.FromFloat32(-2)}, 2)
	if got := Floats(t, bf); !slices.Equal(got, []float64{1.5, -2}) {
		t.Errorf("bfloat16: %v", got)
	}
	mask := tensors.FromFlatDataAndDimensions([]bool{false, true}, 1, 2)
	if got := Floats(t, mask); !slices.Equal(got, []float64{0, 1}) {
		t.Errorf("mask: %v", got)
	}
}

func TestMaxAbs(t *testing.T) {
	a, b := []float64{1, -4, 2}, []float64{1.5, -1, 2}
	if got := MaxAbsDiff(a, b); got != 3 {
		t.Errorf("MaxAbsDiff = %v, want 3", got)
	}
	if got := MaxAbs(a); got != 4 {
		t.Errorf("MaxAbs = %v, want 4", got)
	}
	if got := MaxAbsDiff([]float64{math.NaN()}, []float64{0}); !math.IsNaN(got) {
		t.Errorf("MaxAbsDiff with a NaN = %v, want NaN", got)
	}
}
