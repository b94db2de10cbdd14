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
