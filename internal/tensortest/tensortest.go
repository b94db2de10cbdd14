package tensortest

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/tensorconv"
)

// Floats returns the values of x (float64, float32, bfloat16, float16, or an integer or
// boolean mask) as float64s, failing t when x holds another dtype.
func Floats(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	vals, err := tensorconv.Float64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// MaxAbsDiff returns max |a[i] − b[i]| over the indices of a (b at least as long): NaN when
// a difference is NaN, since no tolerance accepts it.
func MaxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// MaxAbs returns max |a[i]| (0 for no values).
func MaxAbs(a []float64) float64 {
	m := 0.0
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// Depthwise is a loop-by-loop k×k depthwise cross-correlation with zero padding k/2 (odd k:
// "same" size), the reference the networks' convolutions are checked against: x is (B, H, W, C)
// channels-last, kernel (C, k·k) row-major, bias (C).
func Depthwise(x, kernel, bias []float64, B, H, W, C, k int) []float64 {
	out := make([]float64, len(x))
	for b := range B {
		for h := range H {
			for w := range W {
				for c := range C {
					s := bias[c]
					for t := range k * k {
						hh, ww := h+t/k-k/2, w+t%k-k/2
						if hh >= 0 && ww >= 0 && hh < H && ww < W {
							s += kernel[c*k*k+t] * x[((b*H+hh)*W+ww)*C+c]
						}
					}
					out[((b*H+h)*W+w)*C+c] = s
				}
			}
		}
	}
	return out
}
