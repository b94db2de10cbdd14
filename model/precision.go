package model

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/netgraph"
	"github.com/sprint-distill/sprint/internal/tensorconv"
)

// Mixed precision (reference notes §9 "Precision": accelerate bf16 autocast over float32
// master weights).
//
// model.dtype is the dtype the network computes in. The weights handed to Forward and TrigFlow
// may be stored in another dtype (float32 master weights under train.precision: mixed): the
// forward converts them to the compute dtype where it reads them, so the gradient with respect
// to the stored weights flows back through the conversion, in the stored dtype. What stays in
// float32 when the compute dtype is a half type: the linear-attention sums and the softmax
// cross-attention, the RMS and layer norms, the time sinusoid and the TrigFlow input and output
// transforms (t = sinθ/(sinθ+cosθ) would keep three digits in bfloat16), and the logvar head,
// which reads its stored weights unconverted. The losses, the tangent and its normalisation and
// the optimizer update are computed by the callers (distill, train) in float32.

// keepsStoredDType reports whether the parameter is read in its stored dtype (converted to
// float32 at most), not in the compute dtype: the logvar head.
func keepsStoredDType(name string) bool { return strings.HasPrefix(name, logvarPrefix) }

// CastWeights returns w with every weight converted to cfg's compute dtype (model.dtype), except
// those the forward reads in float32 (the logvar head). Weights already in the compute dtype are
// returned as they are. Call it once per graph and network, where the weights enter the graph,
// so that a network called several times converts its weights once.
func CastWeights(cfg Config, w Weights) Weights {
	dt, err := cfg.ComputeDType()
	if err != nil {
		panic(err)
	}
	return castWeights(w, dt)
}

func castWeights(w Weights, dt dtypes.DType) Weights {
	out := make(Weights, len(w))
	for name, n := range w {
		if n == nil || keepsStoredDType(name) || !n.DType().IsFloat() {
			out[name] = n
			continue
		}
		out[name] = netgraph.Cast(n, dt)
	}
	return out
}

// outerDType is the dtype of the computations around the network that keep full precision
// (the TrigFlow transforms, the time sinusoid, the logvar head): float64 for float64 models,
// float32 otherwise.
func outerDType(cfg Config) dtypes.DType { return netgraph.WideDType(cfg.mustDType()) }

// WithDType returns cfg with model.dtype naming dt (float32, float64 or bfloat16): the config
// under which parameters are initialised and loaded in dt.
func (c Config) WithDType(dt dtypes.DType) (Config, error) {
	switch dt {
	case dtypes.Float32:
		c.DType = "float32"
	case dtypes.Float64:
		c.DType = "float64"
	case dtypes.BFloat16:
		c.DType = "bfloat16"
	default:
		return c, fmt.Errorf("model.dtype: no dtype name for %s (want float32, float64 or bfloat16)", dt)
	}
	return c, nil
}

// ConvertParams returns p with every floating-point tensor converted to dt; tensors already in
// dt are shared, not copied. float32, float64 and bfloat16 convert to one another.
func ConvertParams(p Params, dt dtypes.DType) (Params, error) {
	out := make(Params, len(p))
	for name, t := range p {
		c, err := convertTensor(t, dt)
		if err != nil {
			return nil, fmt.Errorf("converting %s: %w", name, err)
		}
		out[name] = c
	}
	return out, nil
}

// convertTensor converts one host tensor to dt element by element, without a float64 copy of
// the whole tensor (a 0.6B teacher is 2.4 GB in float32).
func convertTensor(t *tensors.Tensor, dt dtypes.DType) (*tensors.Tensor, error) {
	if t == nil || t.DType() == dt || !t.DType().IsFloat() {
		return t, nil
	}
	if !paramDType(t.DType()) || !paramDType(dt) {
		return nil, fmt.Errorf("no conversion from %s to %s", t.DType(), dt)
	}
	return tensorconv.Convert(t, dt)
}

// paramDType reports whether parameters may be held in dt: float32, float64 or bfloat16.
func paramDType(dt dtypes.DType) bool {
	return dt == dtypes.Float32 || dt == dtypes.Float64 || dt == dtypes.BFloat16
}
