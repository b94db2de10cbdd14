package distill

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/model"
)

// StudentSampling configures the student's few-step sCM sampler (reference §7).
type StudentSampling struct {
	// Steps is the number of student evaluations (1, 2, 4, ...). Ignored when Schedule is set.
	Steps int
	// Schedule is the θ list from θmax down to 0 (Steps+1 values); nil means
	// model.Schedule(Steps, model.DefaultThetaMax, model.DefaultThetaMid).
	Schedule []float64
	// Guidance is the w fed to the student's guidance embedder: 4.5 in the diffusers pipeline,
	// 5 in the NVlabs app and validation (§7). It is used as given (0 is a valid input).
	Guidance float64
	// Seed seeds the noise re-injected between steps.
	Seed int64
}

// schedule returns the θ list and checks it.
func (s StudentSampling) schedule() ([]float64, error) {
	sch := s.Schedule
	if sch == nil {
		sch = model.Schedule(s.Steps, model.DefaultThetaMax, model.DefaultThetaMid)
	}
	if len(sch) < 2 {
		return nil, fmt.Errorf("distill: sampler: need at least one step, got schedule %v (steps %d)", sch, s.Steps)
	}
	for i := 1; i < len(sch); i++ {
		if !(sch[i] < sch[i-1]) {
			return nil, fmt.Errorf("distill: sampler: schedule %v must decrease", sch)
		}
	}
	if sch[len(sch)-1] != 0 {
		return nil, fmt.Errorf("distill: sampler: schedule %v must end at θ = 0", sch)
	}
	return sch, nil
}

// fewStepSample is the sCM multistep sampler (§7 loop) for a TrigFlow network f(x̂, θ) → F:
// x = σd·noise; for each θ_i but the last: x̂0 = cosθ_i·x − sinθ_i·σd·F(x/σd, θ_i), then
// x = cosθ_{i+1}·x̂0 + sinθ_{i+1}·σd·ε_i with fresh unit noise ε_i. It returns the last x̂0 in
// latent units (x̂0/σd) and the advanced RNG state.
func fewStepSample(f func(xhat, theta *Node) *Node, noise, rngState *Node, schedule []float64, sigmaData float64) (latent, newState *Node) {
	d := &draws{state: rngState}
	batch := noise.Shape().Dimensions[0]
	x := MulScalar(noise, sigmaData)
	var x0 *Node
	for i := 0; i+1 < len(schedule); i++ {
		theta := perSampleConst(x, batch, schedule[i])
		x0 = model.DenoiseStep(x, theta, f(DivScalar(x, sigmaData), theta), sigmaData)
		if next := schedule[i+1]; next > 0 {
			x = model.Renoise(x0, perSampleConst(x, batch, next), d.normal(noise.Shape()), sigmaData)
		}
	}
	return DivScalar(x0, sigmaData), d.state
}

// perSampleConst is the value v for every sample, shaped (batch,) in like's dtype.
func perSampleConst(like *Node, batch int, v float64) *Node {
	return BroadcastToDims(Scalar(like.Graph(), like.DType(), v), batch)
}

// StudentSampleGraph is the student's few-step sampler as one graph (§7): noise (B,C,H,W) is unit
// Gaussian, guidance (B) the w of each sample, rngState the state that draws the re-injected
// noise. It returns the latents x̂0/σd and the advanced RNG state.
func StudentSampleGraph(mcfg model.Config, w model.Weights, noise, text, mask, guidance, rngState *Node, schedule []float64) (latent, newState *Node) {
	return fewStepSample(func(xhat, theta *Node) *Node {
		f, _, _ := model.TrigFlow(mcfg, w, xhat, theta, text, mask, guidance, nil)
		return ConvertDType(f, xhat.DType())
	}, noise, rngState, schedule, mcfg.SigmaData)
}

// SampleStudent runs StudentSampleGraph on the backend: params are the student's, text
// (B,L,Dc) and mask (B,L) the prompts, noise (B,C,H,W) the fixed unit starting noise. It returns
// the latents (B,C,H,W) in latent units.
func SampleStudent(backend compute.Backend, mcfg model.Config, params model.Params, text, mask, noise *tensors.Tensor, s StudentSampling) (*tensors.Tensor, error) {
	sampler, err := NewStudentSampler(backend, mcfg, params, s)
	if err != nil {
		return nil, err
	}
	defer sampler.Close()
	return sampler.Sample(noise, text, mask, s.Seed)
}

// Teacher ODE solvers accepted by TeacherSampling.Solver.
const (
	// SolverEulerTheta integrates the TrigFlow PF-ODE dx_θ/dθ = σd·F_cfg from θ = π/2 to 0 with
	// uniform steps in θ.
	SolverEulerTheta = "euler_theta"
	// SolverEulerT integrates the flow ODE dx_t/dt = v_cfg from t = 1 to 0 with uniform steps in t.
	SolverEulerT = "euler_t"
)

// TeacherSampling configures the teacher's many-step ODE sampler.
type TeacherSampling struct {
	// Steps is the number of Euler steps.
	Steps int
	// CFGScale is the classifier-free guidance scale w; values <= 1 run the conditional
	// network only.
	CFGScale float64
	// Solver is SolverEulerTheta (the default when empty) or SolverEulerT.
	Solver string
}

// TeacherODEStep is one Euler step of the teacher's guided ODE from time `from` to `to`
// (scalar nodes): θ for SolverEulerTheta, with x = x_θ in x units and dx/dθ = σd·F_cfg(x/σd, θ);
// t for SolverEulerT, with x the flow state in latent units and dx/dt = v_cfg(x, t). null
// (1,L,Dc) is the unconditional caption, used with the conditional mask (§2.2); with
// cfgScale <= 1 it is not used and may be nil. Guidance: F_cfg = F_u + w·(F_c − F_u).
func TeacherODEStep(mcfg model.Config, w model.Weights, x, text, mask, null, from, to *Node, cfgScale float64, solver string) *Node {
	batch := x.Shape().Dimensions[0]
	from, to = ConvertDType(from, x.DType()), ConvertDType(to, x.DType())
	guided := func(eval func(x, time, text, mask *Node) *Node) *Node {
		if cfgScale <= 1 {
			return eval(x, BroadcastToDims(from, batch), text, mask)
		}
		nulls := BroadcastToDims(ConvertDType(null, text.DType()), text.Shape().Dimensions...)
		both := eval(Concatenate([]*Node{x, x}, 0), BroadcastToDims(from, 2*batch),
			Concatenate([]*Node{nulls, text}, 0), Concatenate([]*Node{mask, mask}, 0))
		u := SliceAxis(both, 0, AxisRange(0, batch))
		c := SliceAxis(both, 0, AxisRange(batch, 2*batch))
		return Add(u, MulScalar(Sub(c, u), cfgScale))
	}
	if solver == SolverEulerT {
		v := guided(func(x, t, text, mask *Node) *Node {
			out := model.Forward(mcfg, w, model.Inputs{X: x, T: t, Text: text, Mask: mask}, nil)
			return ConvertDType(out.V, x.DType())
		})
		return Add(x, Mul(v, Sub(to, from)))
	}
	sd := mcfg.SigmaData
	f := guided(func(x, theta, text, mask *Node) *Node {
		f, _, _ := model.TrigFlow(mcfg, w, DivScalar(x, sd), theta, text, mask, nil, nil)
		return ConvertDType(f, x.DType())
	})
	return Add(x, Mul(MulScalar(f, sd), Sub(to, from)))
}

// SampleTeacher integrates the teacher's guided ODE from the fixed unit noise (B,C,H,W) with
// opts.Steps uniform Euler steps (θ from π/2, or t from 1, down to 0) and returns the latents
// (B,C,H,W). One step is compiled once and run in a loop.
func SampleTeacher(backend compute.Backend, mcfg model.Config, params model.Params, text, mask, null, noise *tensors.Tensor, opts TeacherSampling) (*tensors.Tensor, error) {
	r, err := resolvedModel(mcfg)
	if err != nil {
		return nil, err
	}
	if opts.Steps < 1 {
		return nil, fmt.Errorf("distill: teacher sampler: steps must be >= 1, got %d", opts.Steps)
	}
	solver := opts.Solver
	if solver == "" {
		solver = SolverEulerTheta
	}
	if solver != SolverEulerTheta && solver != SolverEulerT {
		return nil, fmt.Errorf("distill: teacher sampler: unknown solver %q (want %q or %q)", solver, SolverEulerTheta, SolverEulerT)
	}
	if opts.CFGScale > 1 && null == nil {
		return nil, fmt.Errorf("distill: teacher sampler: CFG scale %v needs the null caption", opts.CFGScale)
	}
	if null == nil {
		null = text // not read without CFG; keeps the graph's inputs uniform
	}
	// The loop state is in latent units: x_θ = σd·state for θ, x_flow = state for t.
	start, scale := math.Pi/2, r.SigmaData // θ from π/2
	if solver == SolverEulerT {
		start, scale = 1, 1
	}
	names, values := params.Sorted()
	exec, err := NewExec(backend, func(in []*Node) []*Node {
		w := model.WeightsFromNodes(names, in[:len(names)])
		k := len(names)
		state, text, mask, null, from, to := in[k], in[k+1], in[k+2], in[k+3], in[k+4], in[k+5]
		x := TeacherODEStep(r, w, MulScalar(state, scale), text, mask, null, from, to, opts.CFGScale, solver)
		return []*Node{DivScalar(x, scale)}
	})
	if err != nil {
		return nil, fmt.Errorf("distill: teacher sampler: %w", err)
	}
	defer exec.Finalize()
	return eulerSteps(exec, "distill: teacher sampler", opts.Steps, start, values, noise, text, mask, null)
}

// eulerSteps runs exec, one solver step (inputs: the parameter values, the state, text, mask,
// null, from, to, then extra; output: the next state), over steps uniform steps from start
// down to 0, starting from noise. what starts the error of a failing step.
func eulerSteps(exec *Exec, what string, steps int, start float64, values []*tensors.Tensor, noise, text, mask, null *tensors.Tensor, extra ...any) (*tensors.Tensor, error) {
	state := noise
	dtype := noise.DType()
	for i := range steps {
		from := start * float64(steps-i) / float64(steps)
		to := start * float64(steps-i-1) / float64(steps)
		args := append(execArgs(values, state, text, mask, null, scalarTensor(from, dtype), scalarTensor(to, dtype)), extra...)
		out, err := exec.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("%s step %d: %w", what, i, err)
		}
		state = out[0]
	}
	return state, nil
}

// scalarTensor is a scalar tensor of value v in a float dtype.
func scalarTensor(v float64, dtype dtypes.DType) *tensors.Tensor {
	if dtype == dtypes.Float64 {
		return tensors.FromScalar(v)
	}
	return tensors.FromScalar(float32(v))
}

// resolvedModel validates and resolves a model config for the samplers.
func resolvedModel(mcfg model.Config) (model.Config, error) {
	if err := mcfg.Validate(); err != nil {
		return mcfg, fmt.Errorf("distill: sampler: %w", err)
	}
	return mcfg.Resolved()
}
