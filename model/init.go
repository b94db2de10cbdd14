package model

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/tensorconv"
)

// initRule fills the values of a parameter of the given dims from its random stream.
type initRule func(vals []float64, dims []int, rng *rand.Rand)

// initFill sets every value to v (no random draw).
func initFill(v float64) initRule {
	return func(vals []float64, _ []int, _ *rand.Rand) {
		for i := range vals {
			vals[i] = v
		}
	}
}

// initZero sets every value to 0.
var initZero = initFill(0)

// initNormal draws from N(0, std²).
func initNormal(std float64) initRule {
	return func(vals []float64, _ []int, rng *rand.Rand) {
		for i := range vals {
			vals[i] = rng.NormFloat64() * std
		}
	}
}

// initUniform draws from U(±bound).
func initUniform(bound float64) initRule {
	return func(vals []float64, _ []int, rng *rand.Rand) {
		for i := range vals {
			vals[i] = (2*rng.Float64() - 1) * bound
		}
	}
}

// initXavier is Xavier-uniform, U(±√(6/(fan_in+fan_out))) with fan_out = dims[0] and fan_in
// the product of the other dims.
func initXavier(vals []float64, dims []int, rng *rand.Rand) {
	fanOut := dims[0]
	fanIn := len(vals) / fanOut
	initUniform(math.Sqrt(6/float64(fanIn+fanOut)))(vals, dims, rng)
}

// InitParams returns freshly initialised parameters, following the reference initialisation
// (SanaMS.initialize_weights): Linear layers Xavier-uniform with zero bias; the patch
// embedding Xavier-uniform over its flattened kernel; the time MLP, t_block (time_embed.linear)
// and caption MLP weights N(0, 0.02²); convolutions PyTorch's default U(±1/√fan_in);
// scale-shift tables N(0, 1/D); QK-norm weights 1 and the caption norm weight
// model.caption_norm_init (default 0.01, y_norm_scale_factor); cross-attention output and final projection zero (PixArt/SANA);
// student only: guidance embedder first layer N(0, 0.02²), last layer zero (§2.3), logvar
// head Xavier-uniform with zero bias (§2.5). Each rule is declared with its parameter in the
// parameter table (params.go). Each tensor draws from its own stream derived from
// (seed, name), so the values do not depend on which other parameters exist.
func InitParams(cfg Config, role Role, seed int64) (Params, error) {
	return InitParamsFor(cfg, role, seed, nil)
}

// InitParamsFor is InitParams restricted to the names for which keep returns true (all when
// keep is nil); the values are the same as InitParams gives for those names.
func InitParamsFor(cfg Config, role Role, seed int64, keep func(name string) bool) (Params, error) {
	cfg, err := cfg.ResolvedValid()
	if err != nil {
		return nil, err
	}
	return initAll(newParamTable(cfg, role).all, cfg.mustDType(), seed, "", keep, "init")
}

// initAll initialises the parameters of a table that keep accepts (all when keep is nil) in
// dtype dt, each by its rule from the stream of (seed, stream+name); what starts the error
// naming a parameter that fails.
func initAll(all []*param, dt dtypes.DType, seed int64, stream string, keep func(name string) bool, what string) (Params, error) {
	p := make(Params)
	for _, s := range all {
		if keep != nil && !keep(s.Name) {
			continue
		}
		vals := make([]float64, s.Size())
		s.init(vals, s.Dims, paramRNG(seed, stream+s.Name))
		t, err := newTensor(dt, s.Dims, vals)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, s.Name, err)
		}
		p[s.Name] = t
	}
	return p, nil
}

// paramRNG is a deterministic stream for one parameter of one seed.
func paramRNG(seed int64, name string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// newTensor builds a host tensor of dtype dt (float64, float32 or bfloat16) from float64 values.
func newTensor(dt dtypes.DType, dims []int, vals []float64) (*tensors.Tensor, error) {
	if !paramDType(dt) {
		return nil, fmt.Errorf("unsupported parameter dtype %s", dt)
	}
	return tensorconv.FromFloat64s(dt, vals, dims...)
}

// StudentFromTeacher builds the student's initial parameters from the teacher's (§6): every
// teacher tensor is copied, the time embedder moves from time_embed.emb.timestep_embedder.* to
// time_embed.timestep_embedder.*, and a fresh guidance embedder (last layer zero, so the
// student starts equal to the teacher for every guidance value) and logvar head are added.
func StudentFromTeacher(cfg Config, teacher Params, seed int64) (Params, error) {
	cfg, err := cfg.ResolvedValid()
	if err != nil {
		return nil, err
	}
	if err := CheckParams(cfg, Teacher, teacher); err != nil {
		return nil, err
	}
	fresh, err := InitParamsFor(cfg, Student, seed, func(name string) bool {
		return strings.HasPrefix(name, guidanceEmbedderPrefix) || !IsDiffusersParam(name)
	})
	if err != nil {
		return nil, err
	}
	student := make(Params, len(teacher)+len(fresh))
	tPrefix, sPrefix := timeEmbedderPrefix(Teacher), timeEmbedderPrefix(Student)
	for name, t := range teacher {
		clone, err := t.LocalClone()
		if err != nil {
			return nil, fmt.Errorf("copying teacher %s: %w", name, err)
		}
		if rest, ok := strings.CutPrefix(name, tPrefix); ok {
			name = sPrefix + rest
		}
		student[name] = clone
	}
	maps.Copy(student, fresh)
	if err := CheckParams(cfg, Student, student); err != nil {
		return nil, fmt.Errorf("internal: student built from teacher: %w", err)
	}
	return student, nil
}
