package gemma

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/tensorconv"
	"github.com/sprint-distill/sprint/safetensors"
)

// LoadParams reads the weights of a Gemma-2 checkpoint (a folder with model.safetensors or
// model.safetensors.index.json and its shards, or that file itself) and checks them strictly
// against ParamSpecs(c): every missing, unexpected and mis-shaped key is listed in the error.
// lm_head.weight, tied to the embedding and unused by the encoder, is skipped.
//
// dt converts the weights as they are read: dtypes.Float32, dtypes.BFloat16 or
// dtypes.Float64; dtypes.InvalidDType keeps float32 and bfloat16 as stored (float16 and
// float64 become float32). Every tensor takes the same dtype.
func LoadParams(path string, c Config, dt dtypes.DType) (Params, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if dt != dtypes.InvalidDType && dt != dtypes.Float32 && dt != dtypes.BFloat16 && dt != dtypes.Float64 {
		return nil, fmt.Errorf("gemma weights: dtype %s, want float32, bfloat16 or float64", dt)
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("gemma weights %s: not found; %s", path, WantedFolder)
		}
		return nil, fmt.Errorf("gemma weights: %w", err)
	}
	if _, _, err := safetensors.Resolve(path); err != nil {
		return nil, fmt.Errorf("gemma weights: %w; %s", err, WantedFolder)
	}
	p := make(Params)
	var storedDType dtypes.DType
	missing, unexpected, misshaped, err := safetensors.Match(path, ParamSpecs(c), func(name string, t *tensors.Tensor) (string, error) {
		target := dt
		if target == dtypes.InvalidDType {
			target = storedTarget(t.DType())
		}
		if storedDType == dtypes.InvalidDType {
			storedDType = target
		} else if target != storedDType {
			return "", fmt.Errorf("gemma weights %s: tensor %q is %s, the others %s; pass a dtype to convert them all", path, name, t.DType(), storedDType)
		}
		if err := safetensors.CheckFinite(path, name, t); err != nil {
			return "", fmt.Errorf("gemma weights: %w", err)
		}
		ct, err := ConvertTensor(t, target)
		if err != nil {
			return "", fmt.Errorf("gemma weights %s: tensor %q: %w", path, name, err)
		}
		p[name] = ct
		return "", nil
	})
	if err != nil {
		return nil, err
	}
	// LMHead, tied to the embedding, is no parameter of the encoder but no error either.
	unexpected = slices.DeleteFunc(unexpected, func(name string) bool { return name == LMHead })
	if err := keysError("gemma weights in "+path, missing, unexpected, misshaped); err != nil {
		return nil, err
	}
	return p, nil
}

// storedTarget is the dtype a stored tensor keeps when no conversion is asked for.
func storedTarget(dt dtypes.DType) dtypes.DType {
	if dt == dtypes.BFloat16 {
		return dtypes.BFloat16
	}
	return dtypes.Float32
}

// ConvertTensor returns a host copy of a floating-point tensor in dtype dt (float32, float64,
// bfloat16 or float16), or t itself when it already has that dtype. It converts element by
// element without an intermediate copy, so a 2.6-billion-element checkpoint converts in place
// of its own size.
func ConvertTensor(t *tensors.Tensor, dt dtypes.DType) (*tensors.Tensor, error) {
	if t.DType() == dt {
		return t, nil
	}
	if !isFloat(t.DType()) || !isFloat(dt) {
		return nil, fmt.Errorf("cannot convert %s to %s, want float dtypes (float32, bfloat16, float16, float64)", t.DType(), dt)
	}
	return tensorconv.Convert(t, dt)
}

func isFloat(dt dtypes.DType) bool {
	return dt == dtypes.Float32 || dt == dtypes.Float64 || dt == dtypes.BFloat16 || dt == dtypes.Float16
}
