package train

import "github.com/gomlx/compute/dtypes"

// Values of train.precision.
const (
	// PrecisionMixed keeps the trained weights and the optimizer states in float32 (master
	// weights) when the networks compute in a half dtype: bf16 mixed precision.
	PrecisionMixed = "mixed"
	// PrecisionPure keeps every weight in the compute dtype (model.dtype).
	PrecisionPure = "pure"
)

// TrainedDType returns the dtype in which a run keeps the weights it trains (and so their
// optimizer states and EMA) for networks computing in compute (model.dtype): float32 for a
// half compute dtype under train.precision mixed, the compute dtype otherwise. Frozen networks
// are kept in the compute dtype either way (they are converted to it at every use).
func (c Config) TrainedDType(compute dtypes.DType) dtypes.DType {
	if c.Precision == PrecisionMixed {
		return computeDType(compute)
	}
	return compute
}
