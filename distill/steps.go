package distill

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// networks are the two TrigFlow networks the losses call, behind functions so the algorithm can
// be tested with closed-form stand-ins. All inputs use the §1 conventions: x̂ = x_θ/σd, θ (B,).
type networks struct {
	// student is F_θ(x̂, θ, text, mask, w) and its logvar (B,) or (B, 1).
	student func(w map[string]*Node, xhat, theta, text, mask, guidance *Node) (f, logvar *Node)
	// teacher is the teacher's F(x̂, θ, text, mask) and the output tokens (B, N, D) of the
	// blocks listed in featureBlocks (none when featureBlocks is empty).
	teacher func(w map[string]*Node, xhat, theta, text, mask *Node, featureBlocks []int) (f *Node, features []*Node)
	// cast converts a network's weights to the compute dtype once per graph, where they enter
	// it (model.CastWeights); nil leaves them as they are.
	cast func(w map[string]*Node) map[string]*Node
	// studentStages, when set, is the student cut at its blocks (model.TrigFlowStages) for the
	// sCM JVP taken stage by stage (StagedStudentJVP); nil: one JVP of student.
	studentStages func(w map[string]*Node, text, mask, guidance *Node) model.Stages
	// checkpointed says the student checkpoints its blocks (model.grad_checkpointing): the staged
	// JVP pass is then for the JVP only and F comes from student, whose backward recomputes it.
	checkpointed bool
}

// weights returns a network's weights as the networks read them (see networks.cast).
func (n networks) weights(w map[string]*Node) map[string]*Node {
	if n.cast == nil {
		return w
	}
	return n.cast(w)
}

// generatorLoss builds the G-phase loss (§2, §3.4, §12):
//
//	L_G = scm_lambda·L_sCM + adv_lambda·L_adv
//
// Trainable holds the student; Frozen the groups "teacher" and "heads" (no gradient reaches
// them); Buffers the heads' spectral-norm vectors, read as they are (heads in eval mode, §3.5)
// and not returned.
func generatorLoss(cfg Config, ratio PhaseRatio, nets networks) train.LossFn {
	sd := cfg.SigmaData
	return func(g *Graph, in train.StepInputs) train.StepOutputs {
		b := readBatch(in)
		student := nets.weights(in.Trainable)
		teacher := nets.weights(frozen(in, TeacherGroup))
		x0 := MulScalar(b.latent, sd) // x0 = σd·latent (§0 notation)
		dtype := x0.DType()
		batch := x0.Shape().Dimensions[0]
		d := &draws{state: in.Rng}
		metrics := map[string]*Node{}
		studentF := func(x, theta, w *Node) (*Node, *Node) {
			return nets.student(student, DivScalar(x, sd), theta, b.text, b.mask, w)
		}

		// Shared draws (§12 G step): θ ~ LN_trig(P_mean, P_std), ε ~ N(0, σd²), w ~ U{cfg_scales}.
		theta := d.trigFlowTime(batch, dtype, cfg.ScmPMean, cfg.ScmPStd)
		xTheta := d.noised(x0, theta, sd)
		w := d.guidance(batch, dtype, cfg.CfgScales)

		var total, fScm *Node
		if cfg.SCM() {
			dxdt := teacherVelocity(cfg, nets, teacher, in, b, xTheta, theta, w)
			fwd := func(xhat, th *Node) (*Node, *Node) {
				return nets.student(student, xhat, th, b.text, b.mask, w)
			}
			var st StudentTangentInputs
			if nets.studentStages != nil {
				if !nets.checkpointed {
					fwd = nil // the staged pass computes F with its gradient
				}
				st = StagedStudentJVP(nets.studentStages(student, b.text, b.mask, w), fwd, xTheta, theta, dxdt, sd)
			} else {
				st = StudentJVP(fwd, xTheta, theta, dxdt, sd)
			}
			r := TangentWarmup(cfg, ratio, in.Step, dtype)
			tangent, gNorm := NormalizeTangent(Tangent(theta, xTheta, st.FMinus, dxdt, st.JVP, r, sd), cfg.GNormConstant)
			terms := SCMLoss(st.F, st.FMinus, StopGradient(tangent), theta, st.Logvar, sd)
			fScm = st.F
			total = MulScalar(terms.Loss, cfg.ScmLambda)
			metrics["scm_loss"] = terms.Loss
			metrics["loss_no_logvar"] = terms.NoLogvar
			metrics["loss_no_weight"] = terms.NoWeight
			metrics["g_norm"] = ReduceAllMean(gNorm)
			metrics["tangent_warmup"] = r
		}
		if cfg.LADD() {
			// x̂0 for the adversarial term (§3.4 "Where x̂0 comes from in the G phase").
			var x0hat *Node
			switch {
			case cfg.TrainLargestTimestep:
				thetaNew := d.trigFlowTime(batch, dtype, cfg.ScmPMean, cfg.ScmPStd)
				thetaNew = largestOr(d.bernoulli(batch, dtype, cfg.LargestTimestepProb), thetaNew, cfg.LargestTimestep)
				xNew := d.noised(x0, thetaNew, sd)
				fNew, _ := studentF(xNew, thetaNew, w)
				x0hat = model.DenoiseStep(xNew, thetaNew, fNew, sd)
			case fScm != nil:
				x0hat = model.DenoiseStep(xTheta, theta, fScm, sd)
			default:
				f, _ := studentF(xTheta, theta, w)
				x0hat = model.DenoiseStep(xTheta, theta, f, sd)
			}
			// θ_D ~ LN_trig(disc), fresh ε_D; the frozen teacher's features feed the heads in eval mode.
			thetaD := d.trigFlowTime(batch, dtype, cfg.DiscPMean, cfg.DiscPStd)
			xD := d.noised(x0hat, thetaD, sd)
			_, feats := nets.teacher(teacher, DivScalar(xD, sd), thetaD, b.text, b.mask, cfg.HeadBlockIDs)
			logits, _ := DiscriminatorHeads(frozen(in, HeadsGroup), headBuffers(in), feats, cfg.VirtualBatch, false)
			adv := HingeGenerator(logits)
			total = sumOrFirst(total, MulScalar(adv, cfg.AdvLambda))
			metrics["adv_loss"] = adv
			metrics["d_fake_logit"] = ReduceAllMean(logits)
		}
		metrics["total_loss"] = total
		return train.StepOutputs{Loss: total, Metrics: metrics}
	}
}

// teacherVelocity is the teacher's PF-ODE velocity dxdt in x units at (x_θ, θ), without gradient
// (§2.2): one doubled-batch pass on [null caption, caption] with the caption's mask for both
// halves and dxdt = σd·[F_u + w(F_c − F_u)], or a single conditional pass when cfg_scales[0] <= 1.
func teacherVelocity(cfg Config, nets networks, teacher map[string]*Node, in train.StepInputs, b batchNodes, xTheta, theta, w *Node) *Node {
	sd := cfg.SigmaData
	xhat := DivScalar(xTheta, sd)
	if !cfg.UsesCFG() {
		f, _ := nets.teacher(teacher, xhat, theta, b.text, b.mask, nil)
		return StopGradient(MulScalar(f, sd))
	}
	batch := xTheta.Shape().Dimensions[0]
	null := nullEmbedding(in, b.text)
	f, _ := nets.teacher(teacher,
		Concatenate([]*Node{xhat, xhat}, 0),
		Concatenate([]*Node{theta, theta}, 0),
		Concatenate([]*Node{null, b.text}, 0),
		Concatenate([]*Node{b.mask, b.mask}, 0), nil)
	fu := SliceAxis(f, 0, AxisRange(0, batch))
	fc := SliceAxis(f, 0, AxisRange(batch, 2*batch))
	return StopGradient(CFGTarget(fu, fc, w, sd))
}

// discriminatorLoss builds the D-phase loss (§3.3, §3.4, §12 D step). Trainable holds the heads;
// Frozen the groups "student" and "teacher" (no gradient reaches them). Buffers holds the spectral-norm
// vectors; the heads run in training mode (one power iteration per call: fake, then real, then
// the R1 pass if on, as [TR] calls them) and the updated vectors are returned.
func discriminatorLoss(cfg Config, nets networks) train.LossFn {
	sd := cfg.SigmaData
	return func(g *Graph, in train.StepInputs) train.StepOutputs {
		b := readBatch(in)
		student := nets.weights(frozen(in, StudentGroup))
		teacher := nets.weights(frozen(in, TeacherGroup))
		heads := in.Trainable
		x0 := MulScalar(b.latent, sd)
		dtype := x0.DType()
		batch := x0.Shape().Dimensions[0]
		d := &draws{state: in.Rng}

		// Fake x̂0 from the no-grad student at θ_G (the sCM law, π/2 w.p. largest_timestep_prob),
		// fresh noise and a new guidance draw.
		thetaG := d.trigFlowTime(batch, dtype, cfg.ScmPMean, cfg.ScmPStd)
		w := d.guidance(batch, dtype, cfg.CfgScales)
		if cfg.TrainLargestTimestep {
			thetaG = largestOr(d.bernoulli(batch, dtype, cfg.LargestTimestepProb), thetaG, cfg.LargestTimestep)
		}
		xt := d.noised(x0, thetaG, sd)
		f, _ := nets.student(student, DivScalar(xt, sd), thetaG, b.text, b.mask, w)
		x0hat := StopGradient(model.DenoiseStep(xt, thetaG, f, sd))

		// Independent θ_D for fake and real (diff_timesteps_d), fresh noise for each.
		thetaFake := d.trigFlowTime(batch, dtype, cfg.DiscPMean, cfg.DiscPStd)
		thetaReal := thetaFake
		if cfg.DiffTimestepsD {
			thetaReal = d.trigFlowTime(batch, dtype, cfg.DiscPMean, cfg.DiscPStd)
		}
		fake := d.noised(x0hat, thetaFake, sd)
		real := d.noised(x0, thetaReal, sd)
		fakeText, fakeMask := b.text, b.mask
		if cfg.MisalignedPairs && batch > 1 {
			thetaShift := d.trigFlowTime(batch, dtype, cfg.DiscPMean, cfg.DiscPStd)
			shifted := d.noised(Misaligned(x0), thetaShift, sd)
			fake = Concatenate([]*Node{fake, shifted}, 0)
			thetaFake = Concatenate([]*Node{thetaFake, thetaShift}, 0)
			fakeText = Concatenate([]*Node{b.text, b.text}, 0)
			fakeMask = Concatenate([]*Node{b.mask, b.mask}, 0)
		}
		nFake := fake.Shape().Dimensions[0]

		// One teacher pass over [fake; real]: the backbone is per-sample, so this equals two calls.
		_, feats := nets.teacher(teacher,
			DivScalar(Concatenate([]*Node{fake, real}, 0), sd),
			Concatenate([]*Node{thetaFake, thetaReal}, 0),
			Concatenate([]*Node{fakeText, b.text}, 0),
			Concatenate([]*Node{fakeMask, b.mask}, 0), cfg.HeadBlockIDs)
		fakeFeats := make([]*Node, len(feats))
		realFeats := make([]*Node, len(feats))
		for i, ft := range feats {
			ft = StopGradient(ft)
			fakeFeats[i] = SliceAxis(ft, 0, AxisRange(0, nFake))
			realFeats[i] = SliceAxis(ft, 0, AxisRange(nFake, nFake+batch))
		}
		state := headBuffers(in)
		fakeLogits, state := DiscriminatorHeads(heads, state, fakeFeats, cfg.VirtualBatch, true)
		realLogits, state := DiscriminatorHeads(heads, state, realFeats, cfg.VirtualBatch, true)
		terms := HingeDiscriminator(realLogits, fakeLogits)
		loss := terms.Loss
		metrics := map[string]*Node{
			"loss_real":    terms.Real,
			"loss_gen":     terms.Fake,
			"d_real_logit": ReduceAllMean(realLogits),
			"d_fake_logit": ReduceAllMean(fakeLogits),
		}
		if cfg.R1Weight > 0 {
			var r1 *Node
			r1, state = r1Penalty(heads, state, realFeats, cfg.VirtualBatch)
			loss = Add(loss, MulScalar(r1, cfg.R1Weight))
			metrics["r1_penalty"] = r1
		}
		metrics["d_loss"] = loss
		return train.StepOutputs{Loss: loss, Metrics: metrics, Buffers: state}
	}
}
