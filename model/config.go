package model

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gomlx/compute/dtypes"
)

// Config is the `model:` section of a sprint config: the shape and conventions of the SANA
// Linear DiT that serves as teacher and student (reference notes §4, §5, §8).
//
// The shape fields (in_channels … ffn_ratio) may be left at 0 and filled from a preset; a
// non-zero value overrides the preset's. Resolved returns the filled-in config: read shape
// fields from it (the package's functions and the helper methods resolve by themselves).
type Config struct {
	// Preset fills the shape fields left at 0: "tiny" (unit tests), "demo" (the CPU demo on
	// 32×32 RGB shapes, 12 latent channels at 16×16), "sana-0.6b" or "sana-1.6b" (the released
	// 1024 px models). "" means every shape field is given explicitly.
	Preset string `mapstructure:"preset"`

	// InChannels is the number of latent channels C (in and out): 32 for DC-AE f32c32.
	InChannels int `mapstructure:"in_channels"`
	// PatchSize p: the patch embedding is a p×p stride-p convolution (1 for DC-AE latents).
	PatchSize int `mapstructure:"patch_size"`
	// LatentSize is the side of the (square) latent the model is built for, in latent pixels;
	// diffusers' sample_size. The network itself accepts any size divisible by patch_size.
	LatentSize int `mapstructure:"latent_size"`
	// HiddenSize D, the token width.
	HiddenSize int `mapstructure:"hidden_size"`
	// Depth is the number of transformer blocks.
	Depth int `mapstructure:"depth"`
	// SelfHeadDim is the head width of the linear self-attention (32 in SANA); D/SelfHeadDim heads.
	SelfHeadDim int `mapstructure:"self_head_dim"`
	// CrossHeads is the number of softmax cross-attention heads; head width D/CrossHeads.
	CrossHeads int `mapstructure:"cross_heads"`
	// CaptionDim is the width Dc of the text encoder's hidden states (Gemma-2-2B: 2304).
	CaptionDim int `mapstructure:"caption_dim"`
	// CaptionLen is the number of text tokens L the model is fed (300 for SANA).
	CaptionLen int `mapstructure:"caption_len"`
	// FFNRatio sets the Mix-FFN hidden width int(FFNRatio·D) (2.5 in SANA).
	FFNRatio float64 `mapstructure:"ffn_ratio"`

	// UsePE adds SANA's fixed 2-D sin-cos positional embedding to the patch tokens (NVlabs
	// use_pe; a non-null interpolation_scale in diffusers). The released 1024 px models have
	// none: their Mix-FFN convolutions carry position. A shallow model on a small grid learns
	// "left of" and "above" with it far more easily (the demo teacher).
	UsePE bool `mapstructure:"use_pe"`
	// PEInterpolation divides the positional embedding's grid coordinates (NVlabs
	// pe_interpolation, diffusers interpolation_scale); 1 by default.
	PEInterpolation float64 `mapstructure:"pe_interpolation"`

	// QKNorm applies RMSNorm over the full width to q and k of the linear self-attention.
	QKNorm bool `mapstructure:"qk_norm"`
	// CrossNorm applies RMSNorm over the full width to q and k of the cross-attention.
	CrossNorm bool `mapstructure:"cross_norm"`
	// QKNormEps is the self-attention QK RMSNorm epsilon (1e-5, as the reference and diffusers).
	QKNormEps float64 `mapstructure:"qk_norm_eps"`
	// CrossNormEps is the cross-attention QK RMSNorm epsilon: 1e-6 in the NVlabs code, 1e-5 in
	// diffusers (§5).
	CrossNormEps float64 `mapstructure:"cross_norm_eps"`
	// LinearAttnEps is ε in out = Σ v(k·q)/(Σ k·q + ε): 1e-8 in SanaMSBlock, 1e-15 in diffusers.
	LinearAttnEps float64 `mapstructure:"linear_attn_eps"`
	// DenseTime selects the dense time embedding of SANA-Sprint: c_noise = t ∈ [0,1]. When false,
	// c_noise = 1000·t as in the original SANA (§4).
	DenseTime bool `mapstructure:"dense_time"`
	// GuidanceEmbedScale multiplies the guidance scale w before the student's guidance embedder
	// (diffusers' guidance_embeds_scale, 0.1).
	GuidanceEmbedScale float64 `mapstructure:"guidance_embed_scale"`
	// CaptionNormInit is the value the caption RMSNorm weight is initialised to when a network is
	// trained from scratch: SANA's y_norm_scale_factor 0.01. A small model trained briefly on a
	// small text encoder learns the prompt faster from 1 (the text path then starts at unit
	// scale); loaded weights are not affected.
	CaptionNormInit float64 `mapstructure:"caption_norm_init"`
	// SigmaData is σd, the data standard deviation of TrigFlow (0.5).
	SigmaData float64 `mapstructure:"sigma_data"`
	// DType is the dtype the networks compute in: "float32", "float64" (finite-difference
	// checks) or "bfloat16" (the attention sums, the norms, the time sinusoid, the TrigFlow
	// transforms and the logvar head then stay in float32). Weights are converted to it where
	// they enter a graph. Frozen networks are stored in it; trained ones too under
	// train.precision pure, and in float32 (master weights) under train.precision mixed.
	DType string `mapstructure:"dtype"`
	// GradCheckpointing recomputes each transformer block in the backward passes instead of
	// keeping its activations (Node.Checkpoint at every block input): less memory for about
	// one more forward per gradient. It applies to the student and the teacher alike, and to
	// the JVP's double VJP; values are unchanged (the reference trains with it on, §9). The
	// training verbs then also run the pure-Go backend's nodes one at a time in creation order
	// (unless GOMLX_BACKEND chooses), which frees each block's recomputed activations before
	// the next block's.
	GradCheckpointing bool `mapstructure:"grad_checkpointing"`
}

// Preset names.
const (
	PresetTiny     = "tiny"
	PresetDemo     = "demo"
	PresetSana06B  = "sana-0.6b"
	PresetSana16B  = "sana-1.6b"
	defaultDType   = "float32"
	sinusoidWidth  = 256     // width of the time / guidance sinusoid (§4)
	maskBias       = -10000. // additive attention bias of padded text tokens (§8)
	layerNormEps   = 1e-6    // adaLN LayerNorm ε (no affine)
	captionNormEps = 1e-5    // caption RMSNorm ε
)

// presetShapes holds each preset's shape fields.
var presetShapes = map[string]Config{
	PresetTiny: {InChannels: 12, PatchSize: 1, LatentSize: 8, HiddenSize: 32, Depth: 2, SelfHeadDim: 8,
		CrossHeads: 4, CaptionDim: 32, CaptionLen: 8, FFNRatio: 2.5},
	PresetDemo: {InChannels: 12, PatchSize: 2, LatentSize: 16, HiddenSize: 128, Depth: 4, SelfHeadDim: 32,
		CrossHeads: 4, CaptionDim: 32, CaptionLen: 16, FFNRatio: 2.5},
	PresetSana06B: {InChannels: 32, PatchSize: 1, LatentSize: 32, HiddenSize: 1152, Depth: 28, SelfHeadDim: 32,
		CrossHeads: 16, CaptionDim: 2304, CaptionLen: 300, FFNRatio: 2.5},
	PresetSana16B: {InChannels: 32, PatchSize: 1, LatentSize: 32, HiddenSize: 2240, Depth: 20, SelfHeadDim: 32,
		CrossHeads: 20, CaptionDim: 2304, CaptionLen: 300, FFNRatio: 2.5},
}

// Presets lists the preset names, smallest first.
func Presets() []string { return []string{PresetTiny, PresetDemo, PresetSana06B, PresetSana16B} }

// DefaultConfig returns the model section's defaults: the "demo" preset with QK norm in both
// attentions, the dense time embedding, guidance scale 0.1, σd = 0.5, float32.
func DefaultConfig() Config {
	return Config{
		Preset:             PresetDemo,
		QKNorm:             true,
		CrossNorm:          true,
		QKNormEps:          1e-5,
		CrossNormEps:       1e-6,
		LinearAttnEps:      1e-8,
		DenseTime:          true,
		PEInterpolation:    1,
		GuidanceEmbedScale: 0.1,
		CaptionNormInit:    0.01,
		SigmaData:          0.5,
		DType:              defaultDType,
	}
}

// PresetConfig returns DefaultConfig with the named preset's shapes filled in.
func PresetConfig(preset string) (Config, error) {
	c := DefaultConfig()
	c.Preset = preset
	return c.Resolved()
}

// Resolved fills the shape fields left at 0 from the preset and returns the result; it fails
// on an unknown preset. It does not validate the rest (see Validate).
func (c Config) Resolved() (Config, error) {
	if c.Preset == "" {
		return c, nil
	}
	p, ok := presetShapes[c.Preset]
	if !ok {
		return c, fmt.Errorf("model.preset: unknown preset %q (known: %s, or \"\")", c.Preset, strings.Join(Presets(), ", "))
	}
	fill := func(dst *int, v int) {
		if *dst == 0 {
			*dst = v
		}
	}
	fill(&c.InChannels, p.InChannels)
	fill(&c.PatchSize, p.PatchSize)
	fill(&c.LatentSize, p.LatentSize)
	fill(&c.HiddenSize, p.HiddenSize)
	fill(&c.Depth, p.Depth)
	fill(&c.SelfHeadDim, p.SelfHeadDim)
	fill(&c.CrossHeads, p.CrossHeads)
	fill(&c.CaptionDim, p.CaptionDim)
	fill(&c.CaptionLen, p.CaptionLen)
	if c.FFNRatio == 0 {
		c.FFNRatio = p.FFNRatio
	}
	return c, nil
}

// Validate resolves the preset and checks every field, naming the offending keys.
func (c Config) Validate() error {
	r, err := c.Resolved()
	if err != nil {
		return err
	}
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("model.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	positive := []struct {
		key string
		v   int
	}{
		{"in_channels", r.InChannels}, {"patch_size", r.PatchSize}, {"latent_size", r.LatentSize},
		{"hidden_size", r.HiddenSize}, {"depth", r.Depth}, {"self_head_dim", r.SelfHeadDim},
		{"cross_heads", r.CrossHeads}, {"caption_dim", r.CaptionDim}, {"caption_len", r.CaptionLen},
	}
	for _, f := range positive {
		if f.v <= 0 {
			bad(f.key, "must be > 0 (got %d); set it or choose a preset", f.v)
		}
	}
	if r.HiddenSize > 0 && r.SelfHeadDim > 0 && r.HiddenSize%r.SelfHeadDim != 0 {
		bad("hidden_size", "must be divisible by model.self_head_dim=%d (got %d)", r.SelfHeadDim, r.HiddenSize)
	}
	if r.HiddenSize > 0 && r.CrossHeads > 0 && r.HiddenSize%r.CrossHeads != 0 {
		bad("hidden_size", "must be divisible by model.cross_heads=%d (got %d)", r.CrossHeads, r.HiddenSize)
	}
	if r.PatchSize > 0 && r.LatentSize > 0 && r.LatentSize%r.PatchSize != 0 {
		bad("latent_size", "must be divisible by model.patch_size=%d (got %d)", r.PatchSize, r.LatentSize)
	}
	if r.FFNRatio <= 0 || (r.HiddenSize > 0 && int(r.FFNRatio*float64(r.HiddenSize)) < 1) {
		bad("ffn_ratio", "must give a positive Mix-FFN width int(ffn_ratio·hidden_size) (got %g)", r.FFNRatio)
	}
	for _, f := range []struct {
		key string
		v   float64
	}{{"qk_norm_eps", r.QKNormEps}, {"cross_norm_eps", r.CrossNormEps}, {"linear_attn_eps", r.LinearAttnEps}, {"sigma_data", r.SigmaData}} {
		if !(f.v > 0) {
			bad(f.key, "must be > 0 (got %g)", f.v)
		}
	}
	if r.UsePE && r.HiddenSize%4 != 0 {
		bad("hidden_size", "must be divisible by 4 for the positional embedding of model.use_pe (got %d)", r.HiddenSize)
	}
	if r.UsePE && !(r.PEInterpolation > 0) {
		bad("pe_interpolation", "must be > 0 with model.use_pe (got %g)", r.PEInterpolation)
	}
	if r.GuidanceEmbedScale < 0 {
		bad("guidance_embed_scale", "must be >= 0 (got %g)", r.GuidanceEmbedScale)
	}
	if !(r.CaptionNormInit > 0) {
		bad("caption_norm_init", "must be > 0 (got %g)", r.CaptionNormInit)
	}
	if _, err := r.ComputeDType(); err != nil {
		bad("dtype", "%v", err)
	}
	if len(errs) == 0 {
		return nil
	}
	// One key per line, indented like the config loader's list of sections.
	return errors.New(strings.Join(errs, "\n  "))
}

// ComputeDType returns the GoMLX dtype named by DType ("" means float32).
func (c Config) ComputeDType() (dtypes.DType, error) {
	switch c.DType {
	case "", "float32":
		return dtypes.Float32, nil
	case "float64":
		return dtypes.Float64, nil
	case "bfloat16":
		return dtypes.BFloat16, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("unknown dtype %q (want float32, float64 or bfloat16)", c.DType)
}

// mustDType is ComputeDType for code paths that run after Validate.
func (c Config) mustDType() dtypes.DType {
	dt, err := c.ComputeDType()
	if err != nil {
		panic(err)
	}
	return dt
}

// SelfHeads is the number of linear self-attention heads D/self_head_dim (preset applied).
func (c Config) SelfHeads() int {
	r := c.orResolved()
	if r.SelfHeadDim <= 0 {
		return 0
	}
	return r.HiddenSize / r.SelfHeadDim
}

// FFNHidden is the Mix-FFN hidden width int(ffn_ratio·D) (preset applied); the inverted conv
// outputs twice it.
func (c Config) FFNHidden() int {
	r := c.orResolved()
	return int(r.FFNRatio * float64(r.HiddenSize))
}

// Tokens is the number of image tokens N for a latent of the given side (preset applied).
func (c Config) Tokens(latentSide int) int {
	r := c.orResolved()
	if r.PatchSize <= 0 {
		return 0
	}
	s := latentSide / r.PatchSize
	return s * s
}

// orResolved is Resolved, or c itself when its preset is unknown (Validate reports that).
func (c Config) orResolved() Config {
	if r, err := c.Resolved(); err == nil {
		return r
	}
	return c
}

// mustResolved is Resolved for callers whose config must be valid: an unknown preset panics
// (the graph-building convention; graph.Exec turns the panic into an error).
func (c Config) mustResolved() Config {
	r, err := c.Resolved()
	if err != nil {
		panic(err)
	}
	return r
}

// ResolvedValid validates c and returns it resolved (presets filled in, see Resolved).
func (c Config) ResolvedValid() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c.Resolved()
}
