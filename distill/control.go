package distill

// Sprint-ControlNet: the teacher's ControlNet trained by flow matching, and the one-step student
// with its ControlNet distilled by sCM + LADD (reference §2, §3), the control latent of each
// sample held fixed everywhere: it is a condition like the caption, so the JVP (§2.4)
// differentiates along (x̂, θ) only and the teacher's target, the discriminator's teacher
// features and the student all see the same control.

import (
	"fmt"
	"slices"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// BatchControl is the batch key of the control latent (B, C, H, W), in latent units like
// BatchLatent.
const BatchControl = "control"

// ControlNetGroup holds the ControlNet trained by `train-teacher` with control (plain
// SanaControlNetModel names). In a distillation the ControlNets live inside the "teacher" and
// "student" groups under model.ControlNetPrefix, so that the student and its ControlNet train
// as one group.
const ControlNetGroup = "controlnet"

// WithControl returns the batch with its control latents, checked to have the latents' shape.
func (b Batch) WithControl(control *tensors.Tensor) (Batch, error) {
	if control == nil {
		return b, fmt.Errorf("distill: batch %q: the data has no control latents (a ControlNet job needs the shards' control column)", BatchControl)
	}
	if !slices.Equal(control.Shape().Dimensions, b.Latent.Shape().Dimensions) {
		return b, fmt.Errorf("distill: batch %q has shape %s, want the latents' %s", BatchControl, control.Shape(), b.Latent.Shape())
	}
	b.Control = control
	return b, nil
}

// readControl returns the step's control latents (without gradient).
func readControl(in train.StepInputs) *Node {
	c := in.Batch[BatchControl]
	if c == nil {
		panic(fmt.Errorf("distill: a ControlNet loss needs the batch's %q (Batch.WithControl)", BatchControl))
	}
	return StopGradient(c)
}

// tileRows repeats cond (B, …) along the batch to the batch of like: the losses call the
// networks on [a; b; …] stacks of the batch's own rows (the teacher's CFG pair, the
// discriminator's fake, misaligned and real sets), each stack in batch order, so row k of every
// stack has the control of batch row k.
func tileRows(cond, like *Node) *Node {
	B, n := cond.Shape().Dimensions[0], like.Shape().Dimensions[0]
	if n == B {
		return cond
	}
	if n%B != 0 {
		panic(fmt.Errorf("distill: %d network inputs are not a stack of the batch's %d control latents", n, B))
	}
	parts := make([]*Node, n/B)
	for i := range parts {
		parts[i] = cond
	}
	return Concatenate(parts, 0)
}

// controlNetworks binds the losses to the TrigFlow wrapper with ControlNets: each network's
// weights hold its ControlNet under model.ControlNetPrefix, cond is the batch's control latents.
func controlNetworks(mcfg model.Config, ccfg ControlConfig, cond *Node) networks {
	run := func(w map[string]*Node, xhat, theta, text, mask, guidance *Node, featureBlocks []int) (*Node, *Node, []*Node) {
		net, cw := model.SplitControlWeights(model.Weights(w))
		ctrl := &model.Control{Layers: ccfg.NumLayers, Weights: cw, Cond: tileRows(cond, xhat), Scale: ccfg.ConditioningScale}
		f, logvar, feats := model.TrigFlowControl(mcfg, net, ctrl, xhat, theta, text, mask, guidance, featureBlocks)
		if logvar != nil {
			logvar = ConvertDType(logvar, xhat.DType())
		}
		for i := range feats {
			feats[i] = ConvertDType(feats[i], xhat.DType())
		}
		return ConvertDType(f, xhat.DType()), logvar, feats
	}
	return networks{
		student: func(w map[string]*Node, xhat, theta, text, mask, guidance *Node) (*Node, *Node) {
			f, logvar, _ := run(w, xhat, theta, text, mask, guidance, nil)
			return f, logvar
		},
		teacher: func(w map[string]*Node, xhat, theta, text, mask *Node, featureBlocks []int) (*Node, []*Node) {
			f, _, feats := run(w, xhat, theta, text, mask, nil, featureBlocks)
			return f, feats
		},
	}
}

// checkControl validates the section against the model (1 <= num_layers < depth).
func checkControl(ccfg ControlConfig, mcfg model.Config) error {
	if err := ccfg.Validate(); err != nil {
		return err
	}
	return model.ValidateControlLayers(mcfg, ccfg.NumLayers)
}

// ControlGeneratorLoss is GeneratorLoss for a Sprint-ControlNet (reference §2, §3.4): the same
// L_G = scm_lambda·L_sCM + adv_lambda·L_adv, with the student and the teacher each run with
// their ControlNet on the batch's control latents. The teacher's CFG target uses the control
// for both halves (as diffusers' ControlNet pipeline does), the JVP holds it fixed.
//
// Inputs: Trainable the student and its ControlNet (model.JoinControl); Frozen "teacher/<name>"
// the teacher and its ControlNet (joined the same way) and, with LADD, the heads; Batch as
// GeneratorLoss plus "control" (B, C, H, W).
func ControlGeneratorLoss(cfg Config, ccfg ControlConfig, mcfg model.Config, ratio PhaseRatio) (train.LossFn, error) {
	r, err := checkConfigs(cfg, mcfg)
	if err == nil {
		err = checkControl(ccfg, r)
	}
	if err != nil {
		return nil, fmt.Errorf("distill: ControlNet generator loss: %w", err)
	}
	return func(g *Graph, in train.StepInputs) train.StepOutputs {
		return generatorLoss(cfg, ratio, controlNetworks(r, ccfg, readControl(in)))(g, in)
	}, nil
}

// ControlDiscriminatorLoss is DiscriminatorLoss for a Sprint-ControlNet: the student's fakes
// and the teacher's features come from the networks with their ControlNets on the batch's
// control latents (the misaligned pairs keep their row's control and caption). Inputs as
// DiscriminatorLoss, with the ControlNets joined into the "student" and "teacher" groups and
// the batch's "control".
func ControlDiscriminatorLoss(cfg Config, ccfg ControlConfig, mcfg model.Config) (train.LossFn, error) {
	r, err := checkConfigs(cfg, mcfg)
	if err == nil {
		err = checkControl(ccfg, r)
	}
	if err != nil {
		return nil, fmt.Errorf("distill: ControlNet discriminator loss: %w", err)
	}
	if !cfg.LADD() {
		return nil, fmt.Errorf("distill: ControlNet discriminator loss: distill.adv_lambda is 0, so there is no discriminator phase")
	}
	return func(g *Graph, in train.StepInputs) train.StepOutputs {
		return discriminatorLoss(cfg, controlNetworks(r, ccfg, readControl(in)))(g, in)
	}, nil
}

// ControlFlowMatchingLoss trains a frozen teacher's ControlNet by the teacher's own objective
// (FlowMatchingLoss's law of t and caption dropout):
//
//	x_t = (1−t)·x0 + t·n,  v = Forward(x_t, t, text; ControlNet(x_t, t, text, control)),  L = mean (v − (n − x0))²
//
// Inputs: Trainable the ControlNet (SanaControlNetModel names); Frozen "teacher/<name>"; Batch
// "latent", "text_embedding", "text_mask", "control" and, with caption dropout,
// "null_embedding". Metrics: fm_loss.
func ControlFlowMatchingLoss(cfg Config, ccfg ControlConfig, mcfg model.Config) (train.LossFn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("distill: ControlNet flow-matching loss: %w", err)
	}
	if err := mcfg.Validate(); err != nil {
		return nil, fmt.Errorf("distill: ControlNet flow-matching loss: %w", err)
	}
	r, err := mcfg.Resolved()
	if err == nil {
		err = checkControl(ccfg, r)
	}
	if err != nil {
		return nil, fmt.Errorf("distill: ControlNet flow-matching loss: %w", err)
	}
	fm := cfg.FlowMatching
	return func(g *Graph, in train.StepInputs) train.StepOutputs {
		b := readBatch(in)
		cond := readControl(in)
		return flowMatchingStep(in, b, fm, func(mi model.Inputs) *Node {
			mi.Control = &model.Control{Layers: ccfg.NumLayers, Weights: model.Weights(in.Trainable), Cond: cond, Scale: ccfg.ConditioningScale}
			return model.Forward(r, model.Weights(frozen(in, TeacherGroup)), mi, nil).V
		})
	}, nil
}
