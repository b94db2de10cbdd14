package distill

import (
	"errors"
	"fmt"
	"math"
)

// Warmup counters accepted by Config.TangentWarmupCounter.
const (
	// CounterGlobal counts every optimizer update, generator and discriminator alike, as the
	// NVlabs script's global_step does (§2.4 caveat): with 1:1 alternation the warmup then ends
	// after tangent_warmup_steps/2 generator updates.
	CounterGlobal = "global"
	// CounterGenerator counts generator updates only.
	CounterGenerator = "generator"
)

// Time laws accepted by FlowMatchingConfig.TimeSampling.
const (
	// TimeLogitNormal draws t = sigmoid(logit_mean + logit_std·n), n ~ N(0,1) (SD3-style).
	TimeLogitNormal = "logit_normal"
	// TimeUniform draws t ~ U[0,1).
	TimeUniform = "uniform"
)

// Config is the `distill:` section: the SANA-Sprint algorithm's knobs (reference §2, §3, §9).
// Defaults are the NVlabs 1.6B recipe [C16, TR].
type Config struct {
	// SigmaData is σd, the data standard deviation of TrigFlow (x0 = σd·latent, ε ~ N(0, σd²)).
	SigmaData float64 `mapstructure:"sigma_data"`

	// ScmPMean is P_mean of the logit-normal TrigFlow time law of the sCM branch:
	// σ = exp(P_mean + P_std·n), θ = atan(σ/0.5) (§2.1).
	ScmPMean float64 `mapstructure:"scm_p_mean"`
	// ScmPStd is P_std of the sCM time law (§2.1).
	ScmPStd float64 `mapstructure:"scm_p_std"`
	// DiscPMean is P_mean of the discriminator's time law θ_D (§3.3).
	DiscPMean float64 `mapstructure:"disc_p_mean"`
	// DiscPStd is P_std of the discriminator's time law θ_D (§3.3).
	DiscPStd float64 `mapstructure:"disc_p_std"`

	// CfgScales lists the guidance scales w drawn uniformly per sample for the teacher target and
	// the student's guidance input (§2.2). If the first is <= 1 the teacher runs one conditional
	// pass without CFG, as [TR] does.
	CfgScales []float64 `mapstructure:"cfg_scales"`

	// TangentWarmupSteps is the length of the tangent warmup r = min(1, step/warmup) (§2.4).
	// 0 means r = 1 from the first step.
	TangentWarmupSteps int `mapstructure:"tangent_warmup_steps"`
	// TangentWarmupCounter says which updates the warmup counts: "global" (generator and
	// discriminator updates, as [TR]) or "generator" (generator updates only). The loss function
	// always receives the global step; "generator" converts it with the G:D phase ratio
	// (train.phase_ratio, handed over with WithPhaseRatio).
	TangentWarmupCounter string `mapstructure:"tangent_warmup_counter"`
	// GNormConstant is c in the tangent normalisation g ← g/(‖g‖+c) (§2.4).
	GNormConstant float64 `mapstructure:"g_norm_constant"`

	// ScmLambda weighs the sCM loss in the generator loss; 0 trains with LADD only (§3.4).
	ScmLambda float64 `mapstructure:"scm_lambda"`
	// AdvLambda weighs the adversarial loss in the generator loss; 0 disables LADD (sCM only,
	// no discriminator phase) (§3.4).
	AdvLambda float64 `mapstructure:"adv_lambda"`

	// HeadBlockIDs are the teacher blocks whose output tokens feed one discriminator head each
	// (§3.1). Each must be below the model depth.
	HeadBlockIDs []int `mapstructure:"head_block_ids"`
	// VirtualBatch is the group size of the heads' BatchNormLocal (§3.2).
	VirtualBatch int `mapstructure:"virtual_batch"`
	// MisalignedPairs adds the real latents rolled by one along the batch as extra fakes in the
	// discriminator phase when the batch has more than one sample (§3.4).
	MisalignedPairs bool `mapstructure:"misaligned_pairs"`
	// DiffTimestepsD draws independent θ_D for the real and the fake samples of the
	// discriminator phase (§3.3); false shares one draw.
	DiffTimestepsD bool `mapstructure:"diff_timesteps_d"`

	// TrainLargestTimestep makes the generator's adversarial x̂0 come from a second student
	// forward at θ = largest_timestep with probability largest_timestep_prob, else at a fresh
	// sCM draw (§3.4). False uses the sCM forward's x̂0.
	TrainLargestTimestep bool `mapstructure:"train_largest_timestep"`
	// LargestTimestep is that θ (≈π/2).
	LargestTimestep float64 `mapstructure:"largest_timestep"`
	// LargestTimestepProb is the probability of using LargestTimestep.
	LargestTimestepProb float64 `mapstructure:"largest_timestep_prob"`

	// R1Weight weighs the R1 penalty on the real head inputs in the discriminator loss; 0 turns
	// it off (the reference default). The reference uses 1e-5 when it is on (§3.4).
	R1Weight float64 `mapstructure:"r1_weight"`

	// FlowMatching configures FlowMatchingLoss, the teacher's own training objective.
	FlowMatching FlowMatchingConfig `mapstructure:"flow_matching"`

	// TeacherWeights is the teacher's weights in the diffusers layout (a folder holding
	// diffusion_pytorch_model.safetensors, a .safetensors file or a sharded index). `sprint distill`
	// needs it; `sprint train-teacher` fine-tunes it when set and starts from scratch when empty.
	// A relative path is relative to the working directory.
	TeacherWeights string `mapstructure:"teacher_weights"`
}

// FlowMatchingConfig configures the rectified-flow teacher loss used by `train-teacher`.
type FlowMatchingConfig struct {
	// TimeSampling is the law of the flow time t: "logit_normal" or "uniform".
	TimeSampling string `mapstructure:"time_sampling"`
	// LogitMean is the mean of logit(t) under "logit_normal".
	LogitMean float64 `mapstructure:"logit_mean"`
	// LogitStd is the standard deviation of logit(t) under "logit_normal".
	LogitStd float64 `mapstructure:"logit_std"`
	// CaptionDropout is the probability of training a sample on the null caption instead of its
	// own (mask kept), so that the teacher learns the unconditional velocity that CFG needs
	// (SANA's class_dropout_prob, 0.1). It needs the batch's null_embedding when > 0.
	CaptionDropout float64 `mapstructure:"caption_dropout"`
}

// DefaultConfig returns the reference defaults (§2, §3, §9; [C16], [TR]).
func DefaultConfig() Config {
	return Config{
		SigmaData:            0.5,
		ScmPMean:             0.2,
		ScmPStd:              1.6,
		DiscPMean:            -0.6,
		DiscPStd:             1.0,
		CfgScales:            []float64{4, 4.5, 5},
		TangentWarmupSteps:   4000,
		TangentWarmupCounter: CounterGlobal,
		GNormConstant:        0.1,
		ScmLambda:            1.0,
		AdvLambda:            0.5,
		HeadBlockIDs:         []int{2, 8, 14, 19},
		VirtualBatch:         8,
		MisalignedPairs:      true,
		DiffTimestepsD:       true,
		TrainLargestTimestep: true,
		LargestTimestep:      1.5708,
		LargestTimestepProb:  0.5,
		R1Weight:             0,
		FlowMatching: FlowMatchingConfig{
			TimeSampling:   TimeLogitNormal,
			LogitMean:      0,
			LogitStd:       1,
			CaptionDropout: 0.1,
		},
	}
}

// PhaseRatio is the training loop's G:D alternation (train.phase_ratio owns it): G generator
// updates, then D discriminator updates, starting with the generator. The "generator" tangent
// warmup counter needs it to count generator updates from the global step; the zero value
// means the reference's 1:1.
type PhaseRatio struct{ G, D int }

// updates is the G:D ratio, 1:1 when unset; without LADD every update is a generator one.
func (r PhaseRatio) updates(cfg Config) (g, d int) {
	g, d = r.G, max(r.D, 0)
	if g <= 0 {
		g, d = 1, 1
	}
	if !cfg.LADD() {
		d = 0
	}
	return g, d
}

// LADD reports whether the adversarial branch (and so the discriminator phase) is on.
func (c Config) LADD() bool { return c.AdvLambda > 0 }

// SCM reports whether the sCM branch is on.
func (c Config) SCM() bool { return c.ScmLambda > 0 }

// UsesCFG reports whether the teacher target uses classifier-free guidance (§2.2 point 4).
func (c Config) UsesCFG() bool { return len(c.CfgScales) > 0 && c.CfgScales[0] > 1 }

// Validate checks every key and returns all problems, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("distill.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	finite := func(key string, v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad(key, "must be a finite number, got %v", v)
			return false
		}
		return true
	}
	if finite("sigma_data", c.SigmaData) && c.SigmaData <= 0 {
		bad("sigma_data", "must be > 0, got %v", c.SigmaData)
	}
	finite("scm_p_mean", c.ScmPMean)
	finite("disc_p_mean", c.DiscPMean)
	if finite("scm_p_std", c.ScmPStd) && c.ScmPStd <= 0 {
		bad("scm_p_std", "must be > 0, got %v", c.ScmPStd)
	}
	if finite("disc_p_std", c.DiscPStd) && c.DiscPStd <= 0 {
		bad("disc_p_std", "must be > 0, got %v", c.DiscPStd)
	}
	if len(c.CfgScales) == 0 {
		bad("cfg_scales", "must list at least one guidance scale")
	}
	for i, w := range c.CfgScales {
		if finite(fmt.Sprintf("cfg_scales[%d]", i), w) && w < 0 {
			bad(fmt.Sprintf("cfg_scales[%d]", i), "must be >= 0, got %v", w)
		}
	}
	if c.TangentWarmupSteps < 0 {
		bad("tangent_warmup_steps", "must be >= 0, got %d", c.TangentWarmupSteps)
	}
	if c.TangentWarmupCounter != CounterGlobal && c.TangentWarmupCounter != CounterGenerator {
		bad("tangent_warmup_counter", "must be %q or %q, got %q", CounterGlobal, CounterGenerator, c.TangentWarmupCounter)
	}
	if finite("g_norm_constant", c.GNormConstant) && c.GNormConstant <= 0 {
		bad("g_norm_constant", "must be > 0, got %v", c.GNormConstant)
	}
	okS := finite("scm_lambda", c.ScmLambda)
	okA := finite("adv_lambda", c.AdvLambda)
	if okS && c.ScmLambda < 0 {
		bad("scm_lambda", "must be >= 0, got %v", c.ScmLambda)
	}
	if okA && c.AdvLambda < 0 {
		bad("adv_lambda", "must be >= 0, got %v", c.AdvLambda)
	}
	if okS && okA && c.ScmLambda == 0 && c.AdvLambda == 0 {
		bad("scm_lambda", "scm_lambda and adv_lambda are both 0: nothing to train")
	}
	if c.LADD() && len(c.HeadBlockIDs) == 0 {
		bad("head_block_ids", "must list at least one block when adv_lambda > 0")
	}
	seen := map[int]bool{}
	for i, id := range c.HeadBlockIDs {
		if id < 0 {
			bad(fmt.Sprintf("head_block_ids[%d]", i), "must be >= 0, got %d", id)
		}
		if seen[id] {
			bad(fmt.Sprintf("head_block_ids[%d]", i), "block %d is listed twice", id)
		}
		seen[id] = true
	}
	if c.VirtualBatch < 1 {
		bad("virtual_batch", "must be >= 1, got %d", c.VirtualBatch)
	}
	if finite("largest_timestep", c.LargestTimestep) && (c.LargestTimestep <= 0 || c.LargestTimestep > math.Pi/2+1e-4) {
		bad("largest_timestep", "must be in (0, π/2], got %v", c.LargestTimestep)
	}
	if finite("largest_timestep_prob", c.LargestTimestepProb) && (c.LargestTimestepProb < 0 || c.LargestTimestepProb > 1) {
		bad("largest_timestep_prob", "must be in [0, 1], got %v", c.LargestTimestepProb)
	}
	if finite("r1_weight", c.R1Weight) && c.R1Weight < 0 {
		bad("r1_weight", "must be >= 0, got %v", c.R1Weight)
	}
	fm := c.FlowMatching
	switch fm.TimeSampling {
	case TimeLogitNormal:
		finite("flow_matching.logit_mean", fm.LogitMean)
		if finite("flow_matching.logit_std", fm.LogitStd) && fm.LogitStd <= 0 {
			bad("flow_matching.logit_std", "must be > 0, got %v", fm.LogitStd)
		}
	case TimeUniform:
	default:
		bad("flow_matching.time_sampling", "must be %q or %q, got %q", TimeLogitNormal, TimeUniform, fm.TimeSampling)
	}
	if finite("flow_matching.caption_dropout", fm.CaptionDropout) && (fm.CaptionDropout < 0 || fm.CaptionDropout >= 1) {
		bad("flow_matching.caption_dropout", "must be in [0, 1), got %v", fm.CaptionDropout)
	}
	return errors.Join(errs...)
}

// ValidateHeadBlocks checks the head block ids against the model depth: each an existing block
// (0 <= id < depth) and strictly increasing, as the teacher's features are taken in block order.
func (c Config) ValidateHeadBlocks(depth int) error {
	var errs []error
	for i, id := range c.HeadBlockIDs {
		switch {
		case id < 0 || id >= depth:
			errs = append(errs, fmt.Errorf("distill.head_block_ids[%d]: block %d does not exist in a model of depth %d (model.depth; blocks are 0..%d)", i, id, depth, depth-1))
		case i > 0 && id <= c.HeadBlockIDs[i-1]:
			errs = append(errs, fmt.Errorf("distill.head_block_ids[%d]: block %d must come after block %d (ids strictly increasing)", i, id, c.HeadBlockIDs[i-1]))
		}
	}
	return errors.Join(errs...)
}
