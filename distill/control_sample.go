package distill

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/model"
)

// ControlInput is a ControlNet with the control latents a sampler conditions on.
type ControlInput struct {
	// Weights are the ControlNet's parameters (SanaControlNetModel names).
	Weights model.Params
	// Layers is N, the number of copied blocks.
	Layers int
	// Scale is the conditioning scale.
	Scale float64
	// Cond is the control latents (B, C, H, W), one per sample, shaped like the noise.
	Cond *tensors.Tensor
}

// check validates the control input against the model and the noise.
func (c ControlInput) check(mcfg model.Config, noise *tensors.Tensor) error {
	if c.Cond == nil || !slices.Equal(c.Cond.Shape().Dimensions, noise.Shape().Dimensions) {
		return fmt.Errorf("distill: sampler: control latents %v must have the noise's shape %v", shapeOf(c.Cond), noise.Shape().Dimensions)
	}
	if err := model.ValidateControlLayers(mcfg, c.Layers); err != nil {
		return fmt.Errorf("distill: sampler: %w", err)
	}
	if err := model.CheckControlParams(mcfg, c.Layers, c.Weights); err != nil {
		return fmt.Errorf("distill: sampler: %w", err)
	}
	if math.IsNaN(c.Scale) || math.IsInf(c.Scale, 0) {
		return fmt.Errorf("distill: sampler: conditioning scale %v", c.Scale)
	}
	return nil
}

func shapeOf(t *tensors.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape().Dimensions
}

// SampleStudentControl is SampleStudent for a Sprint-ControlNet student: the sCM sampler (§7)
// with the student's ControlNet on the control latents at every step.
func SampleStudentControl(backend compute.Backend, mcfg model.Config, params model.Params, ctrl ControlInput, text, mask, noise *tensors.Tensor, s StudentSampling) (*tensors.Tensor, error) {
	r, err := resolvedModel(mcfg)
	if err != nil {
		return nil, err
	}
	if err := ctrl.check(r, noise); err != nil {
		return nil, err
	}
	sch, err := s.schedule()
	if err != nil {
		return nil, err
	}
	rng, err := RNGStateFromSeed(s.Seed)
	if err != nil {
		return nil, fmt.Errorf("distill: sampler RNG: %w", err)
	}
	names, values := model.JoinControl(params, ctrl.Weights).Sorted()
	exec, err := NewExec(backend, func(in []*Node) []*Node {
		w := model.WeightsFromNodes(names, in[:len(names)])
		net, cw := model.SplitControlWeights(w)
		k := len(names)
		noise, text, mask, rng, cond := in[k], in[k+1], in[k+2], in[k+3], in[k+4]
		guidance := perSampleConst(noise, noise.Shape().Dimensions[0], s.Guidance)
		c := &model.Control{Layers: ctrl.Layers, Weights: cw, Cond: cond, Scale: ctrl.Scale}
		latent, _ := fewStepSample(func(xhat, theta *Node) *Node {
			f, _, _ := model.TrigFlowControl(r, net, c, xhat, theta, text, mask, guidance, nil)
			return ConvertDType(f, xhat.DType())
		}, noise, rng, sch, r.SigmaData)
		return []*Node{latent}
	})
	if err != nil {
		return nil, fmt.Errorf("distill: ControlNet student sampler: %w", err)
	}
	defer exec.Finalize()
	args := execArgs(values, noise, text, mask, rng, ctrl.Cond)
	out, err := exec.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("distill: ControlNet student sampler: %w", err)
	}
	return out[0], nil
}

// SampleTeacherControl is SampleTeacher (Euler steps of the guided ODE in θ) for a teacher
// with its ControlNet; the unconditional half of CFG keeps the control (the control image is
// duplicated for CFG in diffusers' ControlNet pipeline).
func SampleTeacherControl(backend compute.Backend, mcfg model.Config, params model.Params, ctrl ControlInput, text, mask, null, noise *tensors.Tensor, opts TeacherSampling) (*tensors.Tensor, error) {
	r, err := resolvedModel(mcfg)
	if err != nil {
		return nil, err
	}
	if err := ctrl.check(r, noise); err != nil {
		return nil, err
	}
	if opts.Steps < 1 {
		return nil, fmt.Errorf("distill: teacher sampler: steps must be >= 1, got %d", opts.Steps)
	}
	if opts.Solver != "" && opts.Solver != SolverEulerTheta {
		return nil, fmt.Errorf("distill: ControlNet teacher sampler: solver %q: only %q is implemented", opts.Solver, SolverEulerTheta)
	}
	if opts.CFGScale > 1 && null == nil {
		return nil, fmt.Errorf("distill: teacher sampler: CFG scale %v needs the null caption", opts.CFGScale)
	}
	if null == nil {
		null = text
	}
	sd := r.SigmaData
	names, values := model.JoinControl(params, ctrl.Weights).Sorted()
	exec, err := NewExec(backend, func(in []*Node) []*Node {
		w := model.WeightsFromNodes(names, in[:len(names)])
		net, cw := model.SplitControlWeights(w)
		k := len(names)
		state, text, mask, null, from, to, cond := in[k], in[k+1], in[k+2], in[k+3], in[k+4], in[k+5], in[k+6]
		x := MulScalar(state, sd) // x_θ = σd·state
		batch := x.Shape().Dimensions[0]
		from, to = ConvertDType(from, x.DType()), ConvertDType(to, x.DType())
		eval := func(x, text, mask, cond *Node) *Node {
			c := &model.Control{Layers: ctrl.Layers, Weights: cw, Cond: cond, Scale: ctrl.Scale}
			theta := BroadcastToDims(from, x.Shape().Dimensions[0])
			f, _, _ := model.TrigFlowControl(r, net, c, DivScalar(x, sd), theta, text, mask, nil, nil)
			return ConvertDType(f, x.DType())
		}
		var f *Node
		if opts.CFGScale <= 1 {
			f = eval(x, text, mask, cond)
		} else { // F_cfg = F_u + w·(F_c − F_u)
			nulls := BroadcastToDims(ConvertDType(null, text.DType()), text.Shape().Dimensions...)
			both := eval(Concatenate([]*Node{x, x}, 0), Concatenate([]*Node{nulls, text}, 0),
				Concatenate([]*Node{mask, mask}, 0), Concatenate([]*Node{cond, cond}, 0))
			u := SliceAxis(both, 0, AxisRange(0, batch))
			c := SliceAxis(both, 0, AxisRange(batch, 2*batch))
			f = Add(u, MulScalar(Sub(c, u), opts.CFGScale))
		}
		x = Add(x, Mul(MulScalar(f, sd), Sub(to, from))) // x ← x + σd·F_cfg·(θ_to − θ_from)
		return []*Node{DivScalar(x, sd)}
	})
	if err != nil {
		return nil, fmt.Errorf("distill: ControlNet teacher sampler: %w", err)
	}
	defer exec.Finalize()
	return eulerSteps(exec, "distill: ControlNet teacher sampler", opts.Steps, math.Pi/2, values, noise, text, mask, null, ctrl.Cond)
}
