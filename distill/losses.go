package distill

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// modelNetworks binds the losses to the SANA TrigFlow wrapper (model.TrigFlow, reference §1).
// The weights are converted to model.dtype once per graph (model.CastWeights: bfloat16 compute
// over float32 master weights under train.precision mixed); outputs are converted back to the
// dtype of x̂, so the losses run in float32 (float64 for float64 batches) whatever the networks'
// compute dtype.
func modelNetworks(mcfg model.Config) networks {
	return networks{
		cast: func(w map[string]*Node) map[string]*Node { return model.CastWeights(mcfg, w) },
		student: func(w map[string]*Node, xhat, theta, text, mask, guidance *Node) (*Node, *Node) {
			f, logvar, _ := model.TrigFlow(mcfg, model.Weights(w), xhat, theta, text, mask, guidance, nil)
			if logvar != nil {
				logvar = ConvertDType(logvar, xhat.DType())
			}
			return ConvertDType(f, xhat.DType()), logvar
		},
		teacher: func(w map[string]*Node, xhat, theta, text, mask *Node, featureBlocks []int) (*Node, []*Node) {
			f, _, feats := model.TrigFlow(mcfg, model.Weights(w), xhat, theta, text, mask, nil, featureBlocks)
			for i := range feats {
				feats[i] = ConvertDType(feats[i], xhat.DType())
			}
			return ConvertDType(f, xhat.DType()), feats
		},
		studentStages: func(w map[string]*Node, text, mask, guidance *Node) model.Stages {
			return model.TrigFlowStages(mcfg, model.Weights(w), text, mask, guidance)
		},
		checkpointed: mcfg.GradCheckpointing,
	}
}

// checkConfigs validates both sections and, when LADD is on, the head blocks against the depth.
func checkConfigs(cfg Config, mcfg model.Config) (model.Config, error) {
	if err := cfg.Validate(); err != nil {
		return mcfg, err
	}
	r, err := mcfg.ResolvedValid()
	if err != nil {
		return r, err
	}
	if r.SigmaData != cfg.SigmaData {
		return r, fmt.Errorf("distill.sigma_data (%v) and model.sigma_data (%v) differ", cfg.SigmaData, r.SigmaData)
	}
	if cfg.LADD() {
		if err := cfg.ValidateHeadBlocks(r.Depth); err != nil {
			return r, err
		}
	}
	return r, nil
}

// GeneratorLoss returns the generator-phase loss L_G = scm_lambda·L_sCM + adv_lambda·L_adv
// (reference §2, §3.4, §12 "G step") for train.NewStepper.
//
// Inputs it expects:
//   - Trainable: the student's parameters (model names).
//   - Frozen: "teacher/<name>" (the teacher) and, with LADD, "heads/<name>" (see InitHeads).
//   - Buffers: with LADD, the heads' spectral-norm vectors (see InitHeads); read, not updated.
//   - Batch: "latent" (B,C,H,W), "text_embedding" (B,L,Dc), "text_mask" (B,L) and, when
//     cfg_scales[0] > 1, "null_embedding" (see Batch).
//   - Step: the global step before this update (G and D updates both count); ratio is the
//     loop's G:D alternation, which the "generator" tangent-warmup counter needs.
//
// Metrics: scm_loss, loss_no_logvar, loss_no_weight, g_norm, tangent_warmup (sCM on),
// adv_loss, d_fake_logit (LADD on), total_loss.
func GeneratorLoss(cfg Config, mcfg model.Config, ratio PhaseRatio) (train.LossFn, error) {
	r, err := checkConfigs(cfg, mcfg)
	if err != nil {
		return nil, fmt.Errorf("distill: generator loss: %w", err)
	}
	return generatorLoss(cfg, ratio, modelNetworks(r)), nil
}

// DiscriminatorLoss returns the discriminator-phase hinge loss (reference §3.3, §3.4, §12
// "D step") for train.NewStepper. It needs adv_lambda > 0.
//
// Inputs it expects:
//   - Trainable: the heads' parameters (InitHeads).
//   - Frozen: "student/<name>" and "teacher/<name>".
//   - Buffers: the heads' spectral-norm vectors; the updated ones are returned.
//   - Batch: "latent", "text_embedding", "text_mask" as for GeneratorLoss.
//
// Metrics: d_loss, loss_real, loss_gen, d_real_logit, d_fake_logit, r1_penalty (R1 on).
func DiscriminatorLoss(cfg Config, mcfg model.Config) (train.LossFn, error) {
	r, err := checkConfigs(cfg, mcfg)
	if err != nil {
		return nil, fmt.Errorf("distill: discriminator loss: %w", err)
	}
	if !cfg.LADD() {
		return nil, fmt.Errorf("distill: discriminator loss: distill.adv_lambda is 0, so there is no discriminator phase")
	}
	return discriminatorLoss(cfg, modelNetworks(r)), nil
}

// FlowMatchingLoss returns the teacher's rectified-flow training loss for `train-teacher`
// (the objective SANA's teacher was trained with, in the convention of reference §1):
//
//	x0 = latent, n ~ N(0, I), t ~ law(flow_matching.time_sampling)
//	x_t = (1−t)·x0 + t·n,  target v = n − x0,  L = mean (Forward(x_t, t) − v)²
//
// with t = sigmoid(logit_mean + logit_std·N(0,1)) ("logit_normal", SD3-style) or U[0,1)
// ("uniform"). With flow_matching.caption_dropout p > 0 each caption is replaced by the null
// caption with probability p (mask kept), so that the teacher learns the unconditional
// velocity CFG needs.
//
// Inputs: Trainable the teacher's parameters; Batch "latent", "text_embedding", "text_mask"
// and, with caption dropout, "null_embedding" (see Batch).
// Metrics: fm_loss.
func FlowMatchingLoss(cfg Config, mcfg model.Config) (train.LossFn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("distill: flow-matching loss: %w", err)
	}
	if err := mcfg.Validate(); err != nil {
		return nil, fmt.Errorf("distill: flow-matching loss: %w", err)
	}
	r, err := mcfg.Resolved()
	if err != nil {
		return nil, fmt.Errorf("distill: flow-matching loss: %w", err)
	}
	fm := cfg.FlowMatching
	return func(g *Graph, in train.StepInputs) train.StepOutputs {
		return flowMatchingStep(in, readBatch(in), fm, func(mi model.Inputs) *Node {
			return model.Forward(r, model.CastWeights(r, model.Weights(in.Trainable)), mi, nil).V
		})
	}, nil
}

// flowMatchingStep is the body of a flow-matching loss: it draws t and the noise, drops
// captions, and returns the mean squared error of velocity (the network's v for the X, T, Text
// and Mask it is given) against n − x0, as the loss and the metric fm_loss.
func flowMatchingStep(in train.StepInputs, b batchNodes, fm FlowMatchingConfig, velocity func(model.Inputs) *Node) train.StepOutputs {
	x0 := b.latent
	dtype := x0.DType()
	batch := x0.Shape().Dimensions[0]
	d := &draws{state: in.Rng}
	t := d.flowTime(batch, dtype, fm)
	xt, target := flowMatchingPair(x0, d.normal(x0.Shape()), t)
	text := b.text
	if fm.CaptionDropout > 0 {
		drop := d.bernoulli(batch, dtype, fm.CaptionDropout)
		text = Where(drop, nullEmbedding(in, text), text)
	}
	v := velocity(model.Inputs{X: xt, T: t, Text: text, Mask: b.mask})
	loss := ReduceAllMean(Square(Sub(ConvertDType(v, dtype), target)))
	return train.StepOutputs{Loss: loss, Metrics: map[string]*Node{"fm_loss": loss}}
}

// flowMatchingPair is the rectified-flow input and target: x_t = (1−t)·x0 + t·n, v = n − x0.
func flowMatchingPair(x0, n, t *Node) (xt, target *Node) {
	tb := perSample(t, x0)
	return Add(Mul(OneMinus(tb), x0), Mul(tb, n)), Sub(n, x0)
}

// flowTime draws the flow time t (batch,) of FlowMatchingLoss.
func (d *draws) flowTime(batch int, dtype dtypes.DType, fm FlowMatchingConfig) *Node {
	shape := shapes.Make(dtype, batch)
	if fm.TimeSampling == TimeUniform {
		return StopGradient(d.uniform(shape))
	}
	return StopGradient(Sigmoid(AddScalar(MulScalar(d.normal(shape), fm.LogitStd), fm.LogitMean)))
}
