package train

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// splitmix64 is one step of the SplitMix64 generator: a bijective 64-bit mixer.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// StepRNG derives the RNG state of one step from the run seed, the global step, the phase
// index and the number of steps skipped so far (so that a retried step draws anew). The
// same inputs always give the same state, so a resumed run draws exactly what an
// uninterrupted one would have.
func StepRNG(seed int64, globalStep int64, phase int, skipped int64) *tensors.Tensor {
	h := splitmix64(uint64(seed))
	h = splitmix64(h ^ uint64(globalStep))
	h = splitmix64(h ^ uint64(phase))
	h = splitmix64(h ^ uint64(skipped))
	state := make([]uint64, graph.RNGStateShape.Size())
	for i := range state {
		h = splitmix64(h)
		state[i] = h
	}
	return tensors.FromFlatDataAndDimensions(state, graph.RNGStateShape.Dimensions...)
}
