package train

import (
	"encoding/json"

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

// rngState is the RNG's section of a checkpoint ("rng"): the seed. With the loop's counters
// it determines every step's RNG state (StepRNG), so nothing else needs saving.
type rngState struct {
	Seed int64 `json:"seed"`
}

func (r *Run) saveRNG() (json.RawMessage, error) { return json.Marshal(rngState{Seed: r.cfg.Seed}) }

func (r *Run) restoreRNG(raw json.RawMessage) error {
	var st rngState
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	if st.Seed != r.cfg.Seed {
		r.logf("note: the checkpoint's seed %d differs from train.seed %d; continuing with the checkpoint's", st.Seed, r.cfg.Seed)
		r.cfg.Seed = st.Seed
	}
	return nil
}
