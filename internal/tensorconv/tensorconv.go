package tensorconv

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Convert returns a host copy of t in the floating-point dtype dt, or t itself when it already
// has that dtype. t may hold float64, float32, bfloat16 or float16 values, or int64, int32,
// uint8 or bool ones (masks; true is 1).
func Convert(t *tensors.Tensor, dt dtypes.DType) (*tensors.Tensor, error) {
	if t.DType() == dt {
		return t, nil
	}
	out := tensors.FromShape(shapes.Make(dt, t.Shape().Dimensions...))
	if t.Size() == 0 {
		return out, nil
	}
	ok := false
	var inner error
	err := t.ConstFlatData(func(src any) {
		var at func(int) float64
		if at, ok = reader(src); ok {
			inner = out.MutableFlatData(func(dst any) { ok = write(dst, t.Size(), at) })
		}
	})
	if err == nil {
		err = inner
	}
	if err == nil && !ok {
		err = fmt.Errorf("cannot convert %s to %s", t.DType(), dt)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FromFloat64s returns a new host tensor of the floating-point dtype dt and dimensions dims
// holding vals (as many as the dimensions make).
func FromFloat64s(dt dtypes.DType, vals []float64, dims ...int) (*tensors.Tensor, error) {
	out := tensors.FromShape(shapes.Make(dt, dims...))
	if len(vals) != out.Size() {
		return nil, fmt.Errorf("%d values for a %v tensor", len(vals), dims)
	}
	if len(vals) == 0 {
		return out, nil
	}
	ok := false
	err := out.MutableFlatData(func(dst any) {
		ok = write(dst, len(vals), func(i int) float64 { return vals[i] })
	})
	if err == nil && !ok {
		err = fmt.Errorf("cannot convert float64 values to %s", dt)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Float64s returns the values of t (any dtype Convert takes) as float64s.
func Float64s(t *tensors.Tensor) ([]float64, error) {
	out := make([]float64, t.Size())
	if len(out) == 0 {
		return out, nil
	}
	ok := false
	err := t.ConstFlatData(func(src any) {
		var at func(int) float64
		if at, ok = reader(src); ok {
			for i := range out {
				out[i] = at(i)
			}
		}
	})
	if err == nil && !ok {
		err = fmt.Errorf("cannot read %s values as float64", t.DType())
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Float32s returns a copy of the values of t (any dtype Convert takes) as float32s.
func Float32s(t *tensors.Tensor) ([]float32, error) {
	f32, err := Convert(t, dtypes.Float32)
	if err != nil {
		return nil, err
	}
	return tensors.CopyFlatData[float32](f32)
}

// reader returns the float64 value at each index of a flat slice of a supported dtype.
func reader(src any) (func(i int) float64, bool) {
	switch s := src.(type) {
	case []float64:
		return func(i int) float64 { return s[i] }, true
	case []float32:
		return func(i int) float64 { return float64(s[i]) }, true
	case []bfloat16.BFloat16:
		return func(i int) float64 { return float64(s[i].Float32()) }, true
	case []float16.Float16:
		return func(i int) float64 { return float64(s[i].Float32()) }, true
	case []int64:
		return func(i int) float64 { return float64(s[i]) }, true
	case []int32:
		return func(i int) float64 { return float64(s[i]) }, true
	case []uint8:
		return func(i int) float64 { return float64(s[i]) }, true
	case []bool:
		return func(i int) float64 {
			if s[i] {
				return 1
			}
			return 0
		}, true
	}
	return nil, false
}

// write stores at(i) for i < n into dst, a flat slice of a floating-point dtype; it reports
// false for any other dst.
func write(dst any, n int, at func(i int) float64) bool {
	switch d := dst.(type) {
	case []float64:
		for i := range n {
			d[i] = at(i)
		}
	case []float32:
		for i := range n {
			d[i] = float32(at(i))
		}
	case []bfloat16.BFloat16:
		for i := range n {
			d[i] = bfloat16.FromFloat64(at(i))
		}
	case []float16.Float16:
		for i := range n {
			d[i] = float16.FromFloat64(at(i))
		}
	default:
		return false
	}
	return true
}
