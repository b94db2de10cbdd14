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

// TestDepthwise: a 3×3 kernel of ones sums each pixel's neighbourhood (zero outside), per
// channel, plus the bias.
func TestDepthwise(t *testing.T) {
	// One image of 2×3 pixels, 2 channels: channel 0 holds 1…6, channel 1 ten times that.
	x := []float64{1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60}
	kernel := make([]float64, 2*9)
	for i := range kernel {
		kernel[i] = 1
	}
	got := Depthwise(x, kernel, []float64{0.5, -1}, 1, 2, 3, 2, 3)
	// Channel 0 sums: corners 1+2+4+5=12, 2+3+5+6=16; middles 1+2+3+4+5+6=21.
	want := []float64{12.5, 119, 21.5, 209, 16.5, 159, 12.5, 119, 21.5, 209, 16.5, 159}
	if !slices.Equal(got, want) {
		t.Errorf("Depthwise = %v, want %v", got, want)
	}
}
