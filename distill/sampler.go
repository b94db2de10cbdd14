package distill

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/model"
)

// StudentSampler is the student's few-step sampler compiled once and run on batch after batch
// (generation jobs); SampleStudent is the one-call form. Its graph is compiled per batch shape.
type StudentSampler struct {
	exec     *Exec
	values   []*tensors.Tensor
	sampling StudentSampling
}

// NewStudentSampler prepares the sampler of s for a student's params.
func NewStudentSampler(backend compute.Backend, mcfg model.Config, params model.Params, s StudentSampling) (*StudentSampler, error) {
	r, err := resolvedModel(mcfg)
	if err != nil {
		return nil, err
	}
	sch, err := s.schedule()
	if err != nil {
		return nil, err
	}
	names, values := params.Sorted()
	exec, err := NewExec(backend, func(in []*Node) []*Node {
		w := model.Weights{}
		for i, n := range names {
			w[n] = in[i]
		}
		noise, text, mask, rng := in[len(names)], in[len(names)+1], in[len(names)+2], in[len(names)+3]
		guidance := perSampleConst(noise, noise.Shape().Dimensions[0], s.Guidance)
		latent, _ := StudentSampleGraph(r, w, noise, text, mask, guidance, rng, sch)
		return []*Node{latent}
	})
	if err != nil {
		return nil, fmt.Errorf("distill: student sampler: %w", err)
	}
	return &StudentSampler{exec: exec, values: values, sampling: s}, nil
}

// Sample draws latents (B,C,H,W) from unit noise (B,C,H,W) for captions text (B,L,Dc) with
// masks (B,L); seed seeds the noise re-injected between steps (unused at one step).
func (s *StudentSampler) Sample(noise, text, mask *tensors.Tensor, seed int64) (*tensors.Tensor, error) {
	rng, err := RNGStateFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("distill: sampler RNG: %w", err)
	}
	args := execArgs(s.values, noise, text, mask, rng)
	out, err := s.exec.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("distill: student sampler: %w", err)
	}
	if err := out[0].ToLocal(); err != nil {
		return nil, fmt.Errorf("distill: student sampler: %w", err)
	}
	return out[0], nil
}

// execArgs is the argument list of a sampler's graph: the parameter values (in the graph's
// name order), then the other inputs.
func execArgs(values []*tensors.Tensor, rest ...any) []any {
	args := make([]any, 0, len(values)+len(rest))
	for _, v := range values {
		args = append(args, v)
	}
	return append(args, rest...)
}

// Close releases the compiled graphs.
func (s *StudentSampler) Close() { s.exec.Finalize() }
