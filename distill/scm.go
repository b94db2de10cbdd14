package distill

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sprint-distill/sprint/model"
)

// CFGTarget is the teacher's guided PF-ODE velocity in x units (§2.2 step 3):
// dxdt = σd·[F_u + w·(F_c − F_u)], with w (B,) one guidance scale per sample.
func CFGTarget(fUncond, fCond, w *Node, sigmaData float64) *Node {
	ws := perSample(w, fCond)
	return MulScalar(Add(fUncond, Mul(ws, Sub(fCond, fUncond))), sigmaData)
}

// Tangent is the sCM tangent before normalisation (§2.4):
//
//	g = −cos²θ·(σd·F⁻ − dxdt) − r·(cosθ·sinθ·x_θ + σd·J)
//
// where x_θ is in x units, F⁻ = stopgrad(F_θ), J = cosθ·sinθ·dF/dθ along the teacher's PF-ODE
// (the JVP output) and r (scalar) the warmup factor.
func Tangent(theta, xTheta, fMinus, dxdt, jvp, r *Node, sigmaData float64) *Node {
	t := perSample(theta, xTheta)
	cos, sin := Cos(t), Sin(t)
	first := Neg(Mul(Square(cos), Sub(MulScalar(fMinus, sigmaData), dxdt)))
	second := Mul(r, Add(Mul(Mul(cos, sin), xTheta), MulScalar(jvp, sigmaData)))
	return Sub(first, second)
}

// NormalizeTangent is g ← g/(‖g‖₂ + c), with the L2 norm over every axis but the batch (§2.4).
// It returns the normalised tangent and the per-sample norms (B,).
func NormalizeTangent(g *Node, c float64) (normalized, norm *Node) {
	axes := make([]int, g.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	norm = Sqrt(ReduceSum(Square(g), axes...))
	normalized = Div(g, AddScalar(perSample(norm, g), c))
	return normalized, norm
}

// SCMTerms are the sCM loss and its two logged diagnostics (§2.6, §9 "Logging").
type SCMTerms struct {
	// Loss is mean[(w(θ)/e^logvar)·(F_θ − F⁻ − g)² + logvar], the quantity trained.
	Loss *Node
	// NoLogvar is mean[w(θ)·(F_θ − F⁻ − g)²] ("loss_no_logvar").
	NoLogvar *Node
	// NoWeight is mean[(F_θ − F⁻ − g)²] ("loss_no_weight").
	NoWeight *Node
}

// SCMLoss is the adaptively weighted sCM loss (§2.6): with w(θ) = 1/(σd·tanθ) (= 1/σ) and logvar
// (B,) or (B,1) broadcast per sample, the mean over (B, C, H, W) of
// (w(θ)/e^logvar)·(F_θ − F⁻ − g)² + logvar. A nil logvar (a student without the head) is 0.
func SCMLoss(f, fMinus, g, theta, logvar *Node, sigmaData float64) SCMTerms {
	if logvar == nil {
		logvar = ZerosLike(theta)
	}
	t := perSample(theta, f)
	weight := Div(Cos(t), MulScalar(Sin(t), sigmaData)) // 1/(σd·tanθ)
	lv := perSample(Reshape(logvar, f.Shape().Dimensions[0]), f)
	sq := Square(Sub(Sub(f, fMinus), g))
	weighted := Mul(weight, sq)
	loss := Add(Div(weighted, Exp(lv)), lv)
	return SCMTerms{
		Loss:     ReduceAllMean(loss),
		NoLogvar: ReduceAllMean(weighted),
		NoWeight: ReduceAllMean(sq),
	}
}

// TangentWarmup is r = min(1, n/tangent_warmup_steps) (§2.4), where n is the global update
// counter step (any numeric dtype, scalar) or, with tangent_warmup_counter "generator", the
// number of generator updates before it under the loop's G:D alternation ratio.
func TangentWarmup(cfg Config, ratio PhaseRatio, step *Node, dtype dtypes.DType) *Node {
	g := step.Graph()
	if cfg.TangentWarmupSteps == 0 {
		return ScalarOne(g, dtype)
	}
	n := ConvertDType(step, dtype)
	if cfg.TangentWarmupCounter == CounterGenerator {
		// Generator updates before global update n, for cycles of g G-updates then d D-updates
		// starting with G: ⌊n/(g+d)⌋·g + min(n mod (g+d), g).
		gs, ds := ratio.updates(cfg)
		cycle := float64(gs + ds)
		full := Floor(DivScalar(n, cycle))
		rest := Sub(n, MulScalar(full, cycle))
		n = Add(MulScalar(full, float64(gs)), MinScalar(rest, float64(gs)))
	}
	return StopGradient(MinScalar(DivScalar(n, float64(cfg.TangentWarmupSteps)), 1))
}

// StudentTangentInputs holds what one student forward and its JVP produce for the sCM loss.
type StudentTangentInputs struct {
	// F is F_θ(x_θ/σd, θ) with gradients to the student's weights.
	F *Node
	// Logvar is the student's adaptive-weight head output for the same forward.
	Logvar *Node
	// FMinus is stopgrad(F).
	FMinus *Node
	// JVP is stopgrad(cosθ·sinθ·dF/dθ), the derivative along (cosθ·sinθ·dxdt/σd, cosθ·sinθ).
	JVP *Node
}

// StudentJVP runs the student once at (x̂ = x_θ/σd, θ) and differentiates it forward along the
// teacher's PF-ODE tangent (v_x, v_θ) = (cosθ·sinθ·dxdt/σd, cosθ·sinθ) (§2.4), with the text,
// mask and guidance that student closes over held fixed.
//
// The reference runs a no-grad JVP pass and then a second forward with gradients at the same
// inputs, and uses only the second's F and logvar (the JVP pass's F is overwritten, its logvar
// discarded). The two forwards are the same function of the same inputs, so here one forward
// serves both: F and Logvar keep their gradients and the JVP reuses its activations.
func StudentJVP(student func(xhat, theta *Node) (f, logvar *Node), xTheta, theta, dxdt *Node, sigmaData float64) StudentTangentInputs {
	xhat := DivScalar(xTheta, sigmaData)
	cs := Mul(Cos(theta), Sin(theta))
	vx := DivScalar(Mul(perSample(cs, dxdt), dxdt), sigmaData)
	var logvar *Node
	outs, jvps := JVP(func(in []*Node) []*Node {
		f, lv := student(in[0], in[1])
		logvar = lv
		return []*Node{f}
	}, []*Node{xhat, theta}, []*Node{StopGradient(vx), StopGradient(cs)})
	return StudentTangentInputs{
		F:      outs[0],
		Logvar: logvar,
		FMinus: StopGradient(outs[0]),
		// With model.grad_checkpointing the JVP graph is downstream of the blocks' checkpoints:
		// StopCheckpoint ends that, so the training gradient, which reads the JVP only as a
		// constant, keeps its value instead of recomputing the double VJP from the checkpoints.
		JVP: StopGradient(jvps[0]).StopCheckpoint(),
	}
}

// StagedStudentJVP is StudentJVP taken one stage of the network at a time (model.Stages): the
// derivative of In, of each block and of Out along the tangent the previous stage produced,
// each by the double-VJP identity (JVP) on that stage alone. The values are those of one JVP of
// the whole network up to rounding (each stage's tangent is rounded to its output's dtype), but
// only one block's activations and first VJP are alive at a time, instead of every block's; each
// stage's pass starts once the tangent it takes is computed (a scheduling barrier), so a
// dataflow executor cannot run the stages' forwards ahead and keep them.
//
// With forward nil, F and Logvar are the stages' own outputs, with their gradients (the pass
// serves the loss and the JVP, as StudentJVP's). With forward set (a network with gradient
// checkpointing), F and Logvar come from forward at the same inputs and the staged pass is for
// the JVP only: its activations are freed as it goes, and the checkpointed forward alone is
// recomputed in the backward pass.
//
// The stages' outputs are converted to the dtype of x_θ, as the losses' networks convert theirs.
func StagedStudentJVP(stages model.Stages, forward func(xhat, theta *Node) (f, logvar *Node), xTheta, theta, dxdt *Node, sigmaData float64) StudentTangentInputs {
	xhat := DivScalar(xTheta, sigmaData)
	cs := Mul(Cos(theta), Sin(theta))
	vx := DivScalar(Mul(perSample(cs, dxdt), dxdt), sigmaData)

	stage := func(f func(in []*Node) []*Node, primals, tangents []*Node) (outs, jvps []*Node) {
		outs, jvps = JVP(f, primals, tangents)
		for i := range jvps {
			if jvps[i] == nil && outs[i] != nil {
				jvps[i] = ZerosLike(outs[i]) // a non-float output (none here) has no tangent
			}
		}
		return outs, jvps
	}
	// In: (x̂, θ) → [h, t0, emb, x_flow, t].
	state, tangents := stage(func(in []*Node) []*Node { return stages.In(in[0], in[1]) },
		[]*Node{xhat, theta}, []*Node{StopGradient(vx), StopGradient(cs)})
	h, t0, emb, xFlow, t := state[0], state[1], state[2], state[3], state[4]
	dh, dt0, demb, dxFlow, dt := tangents[0], tangents[1], tangents[2], tangents[3], tangents[4]
	for _, blk := range stages.Blocks {
		hIn := SchedulingBarrier(h, dh) // the block's pass waits for its input tangent
		outs, jvps := stage(func(in []*Node) []*Node { return []*Node{blk(in[0], in[1])} },
			[]*Node{hIn, t0}, []*Node{dh, dt0})
		h, dh = outs[0], jvps[0]
	}
	hIn := SchedulingBarrier(h, dh)
	outs, jvps := JVP(func(in []*Node) []*Node { return stages.Out(in[0], in[1], in[2], in[3]) },
		[]*Node{hIn, emb, xFlow, t}, []*Node{dh, demb, dxFlow, dt})
	toX := func(x *Node) *Node {
		if x == nil || x.DType() == xTheta.DType() {
			return x
		}
		return ConvertDType(x, xTheta.DType())
	}
	f, logvar := toX(outs[0]), toX(outs[1])
	if forward != nil {
		f, logvar = forward(xhat, theta)
	}
	jvp := toX(jvps[0])
	return StudentTangentInputs{
		F:      f,
		Logvar: logvar,
		FMinus: StopGradient(f),
		JVP:    StopGradient(jvp).StopCheckpoint(),
	}
}
