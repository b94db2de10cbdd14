package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// NonFiniteError says that a weights tensor holds NaN or ±Inf: weights are checked when they
// are loaded, so a damaged file or a diverged run is named before it poisons a run.
type NonFiniteError struct {
	File, Tensor string
	// Count is the number of non-finite values; First the flat index of the first.
	Count, First int
	// Value is the first non-finite value.
	Value float64
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("%s: tensor %q holds %d non-finite value(s) (first: %v at flat index %d); "+
		"the file is damaged or the run that wrote it diverged", e.File, e.Tensor, e.Count, e.Value, e.First)
}

// CheckFinite returns a *NonFiniteError naming file and tensor if a floating-point tensor holds
// NaN or ±Inf; other dtypes are always finite.
func CheckFinite(file, name string, t *tensors.Tensor) error {
	var count, first int
	var value float64
	note := func(i int, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if count == 0 {
				first, value = i, v
			}
			count++
		}
	}
	dt := t.DType()
	if !dt.IsFloat() {
		return nil
	}
	err := t.ConstBytes(func(b []byte) {
		switch dt {
		case dtypes.Float32:
			for i := 0; i+4 <= len(b); i += 4 {
				note(i/4, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))))
			}
		case dtypes.Float64:
			for i := 0; i+8 <= len(b); i += 8 {
				note(i/8, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
			}
		case dtypes.BFloat16:
			for i := 0; i+2 <= len(b); i += 2 {
				note(i/2, float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[i:]))<<16)))
			}
		case dtypes.Float16:
			for i := 0; i+2 <= len(b); i += 2 {
				note(i/2, float64(halfToFloat(binary.LittleEndian.Uint16(b[i:]))))
			}
		}
	})
	if err != nil {
		return fmt.Errorf("%s: tensor %q: %w", file, name, err)
	}
	if count > 0 {
		return &NonFiniteError{File: file, Tensor: name, Count: count, First: first, Value: value}
	}
	return nil
}

// checkFiniteFloat32 is CheckFinite for values already read as float32.
func checkFiniteFloat32(file, name string, v []float32) error {
	var count, first int
	var value float64
	for i, x := range v {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			if count == 0 {
				first, value = i, f
			}
			count++
		}
	}
	if count > 0 {
		return &NonFiniteError{File: file, Tensor: name, Count: count, First: first, Value: value}
	}
	return nil
}
