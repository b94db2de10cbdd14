package model

import (
	"fmt"
	"math"
	"strings"

	"github.com/sprint-distill/sprint/safetensors"
)

// Role says which variant of the network a parameter set belongs to.
type Role int

const (
	// Teacher is the flow-matching SANA model: diffusers' SanaTransformer2DModel with
	// guidance_embeds=False (time embedder under time_embed.emb.timestep_embedder).
	Teacher Role = iota
	// Student is SANA-Sprint's student: the same network plus a guidance embedder added to the
	// time embedding (diffusers' guidance_embeds=True key names) and the logvar head.
	Student
)

func (r Role) String() string {
	switch r {
	case Teacher:
		return "teacher"
	case Student:
		return "student"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParamSpec names one parameter (diffusers key) and its dimensions.
type ParamSpec = safetensors.Spec

// Key prefixes of the top-level modules of diffusers' SanaTransformer2DModel (and of the
// logvar head), shared by the parameter table and the functions that classify names.
const (
	patchEmbedPrefix        = "patch_embed."
	timeEmbedPrefix         = "time_embed."
	guidanceEmbedderPrefix  = timeEmbedPrefix + "guidance_embedder."
	captionProjectionPrefix = "caption_projection."
	captionNormPrefix       = "caption_norm."
	blocksPrefix            = "transformer_blocks."
	logvarPrefix            = "logvar_linear."
	scaleShiftTable         = "scale_shift_table" // one per block and one for the final layer
)

// Parameter names of the logvar head.
const (
	LogvarWeight = logvarPrefix + "weight" // [1, D]: student only, not part of diffusers' model
	LogvarBias   = logvarPrefix + "bias"   // [1]
)

// timeEmbedderPrefix is where the timestep MLP lives: diffusers nests it under "emb." for the
// teacher (AdaLayerNormSingle) and not for the student (SanaCombinedTimestepGuidanceEmbeddings).
func timeEmbedderPrefix(role Role) string {
	if role == Student {
		return timeEmbedPrefix + "timestep_embedder."
	}
	return timeEmbedPrefix + "emb.timestep_embedder."
}

// blockPrefix is the key prefix of transformer block i.
func blockPrefix(i int) string { return fmt.Sprintf("%s%d.", blocksPrefix, i) }

// param is one entry of the parameter table: the diffusers key, its dimensions and how
// InitParams draws its values.
type param struct {
	ParamSpec
	init initRule
}

// linearParams is a Linear layer or a convolution in PyTorch layout: weight (out, in, …) and
// bias (out), nil when the layer has none.
type linearParams struct{ weight, bias *param }

// mlpParams is Linear → activation → Linear (linear_1, linear_2): the timestep and guidance
// embedders and the caption projection.
type mlpParams struct{ linear1, linear2 linearParams }

// attentionParams is one attention module (attn1, attn2): the q, k, v projections, the QK
// RMSNorm weights (nil when the config has no QK norm for this attention) and the output
// projection to_out.0.
type attentionParams struct {
	toQ, toK, toV, toOut linearParams
	normQ, normK         *param
}

// mixFFNParams is the Mix-FFN (GLUMBConv): 1×1 inverted conv, 3×3 depthwise conv and the 1×1
// point conv (no bias).
type mixFFNParams struct{ convInverted, convDepth, convPoint linearParams }

// blockParams is one transformer block: its adaLN-single table, the linear self-attention
// (attn1), the cross-attention (attn2) and the Mix-FFN (ff).
type blockParams struct {
	scaleShiftTable *param
	attn1, attn2    attentionParams
	ff              mixFFNParams
}

// paramTable is the parameter table of the network for one config and role: each parameter
// is declared once, in newParamTable, with its diffusers key, shape and initialisation. all
// lists them in order (what ParamSpecs, InitParams and CheckParams read); the other fields
// give them their place in the network (what Forward reads, through Weights.get).
type paramTable struct {
	all []*param

	patchEmbed        linearParams
	timeEmbedder      mlpParams
	guidanceEmbedder  *mlpParams   // student only
	timeLinear        linearParams // t_block: time_embed.linear, D → 6D
	captionProjection mlpParams
	captionNorm       *param
	blocks            []blockParams
	scaleShiftTable   *param // final layer's (shift, scale) table
	projOut           linearParams
	logvar            *linearParams // student only
}

// newParamTable declares every parameter of the network for a resolved config and a role, in
// the order of ParamSpecs: embeddings, blocks in order, output, student heads. The
// initialisations follow SanaMS.initialize_weights (see InitParams).
func newParamTable(cfg Config, role Role) *paramTable {
	D, C, p, Dc := cfg.HiddenSize, cfg.InChannels, cfg.PatchSize, cfg.CaptionDim
	scaleShiftInit := initNormal(1 / math.Sqrt(float64(D))) // the adaLN tables: N(0, 1/D)
	t := &paramTable{}

	t.patchEmbed = t.linear(patchEmbedPrefix+"proj.", initXavier, D, C, p, p)
	t.timeEmbedder = t.mlp(timeEmbedderPrefix(role), sinusoidWidth, D, initNormal(0.02), initNormal(0.02))
	if role == Student {
		// The last layer starts at zero: the student starts exactly as the teacher (§2.3).
		g := t.mlp(guidanceEmbedderPrefix, sinusoidWidth, D, initNormal(0.02), initZero)
		t.guidanceEmbedder = &g
	}
	t.timeLinear = t.linear(timeEmbedPrefix+"linear.", initNormal(0.02), 6*D, D)
	t.captionProjection = t.mlp(captionProjectionPrefix, Dc, D, initNormal(0.02), initNormal(0.02))
	t.captionNorm = t.param(captionNormPrefix+"weight", initFill(cfg.CaptionNormInit), D) // y_norm_scale_factor
	for i := range cfg.Depth {
		t.blocks = append(t.blocks, t.block(cfg, blockPrefix(i), scaleShiftInit))
	}
	t.scaleShiftTable = t.param(scaleShiftTable, scaleShiftInit, 2, D)
	t.projOut = t.linear("proj_out.", initZero, p*p*C, D)
	if role == Student {
		t.logvar = &linearParams{weight: t.param(LogvarWeight, initXavier, 1, D), bias: t.param(LogvarBias, initZero, 1)}
	}
	return t
}

// block declares the parameters of one transformer block under prefix.
func (t *paramTable) block(cfg Config, prefix string, scaleShiftInit initRule) blockParams {
	D, Hd := cfg.HiddenSize, cfg.FFNHidden()
	var b blockParams
	b.scaleShiftTable = t.param(prefix+scaleShiftTable, scaleShiftInit, 6, D)

	// Linear self-attention: q, k, v without bias.
	b.attn1 = t.attention(prefix+"attn1.", D, false, cfg.QKNorm, initXavier)
	// Cross-attention: the output projection starts at zero (PixArt/SANA).
	b.attn2 = t.attention(prefix+"attn2.", D, true, cfg.CrossNorm, initZero)

	ff := prefix + "ff."
	b.ff.convInverted = t.conv(ff+"conv_inverted.", true, 2*Hd, D, 1, 1)
	b.ff.convDepth = t.conv(ff+"conv_depth.", true, 2*Hd, 1, 3, 3)
	b.ff.convPoint = t.conv(ff+"conv_point.", false, D, Hd, 1, 1)
	return b
}

// param declares one parameter.
func (t *paramTable) param(name string, init initRule, dims ...int) *param {
	p := &param{ParamSpec: ParamSpec{Name: name, Dims: dims}, init: init}
	t.all = append(t.all, p)
	return p
}

// weight declares a layer without bias: prefix+"weight" of the given dims.
func (t *paramTable) weight(prefix string, init initRule, dims ...int) linearParams {
	return linearParams{weight: t.param(prefix+"weight", init, dims...)}
}

// linear declares a layer with weight dims (out, in, …) drawn by init and a zero bias (out).
func (t *paramTable) linear(prefix string, init initRule, dims ...int) linearParams {
	l := t.weight(prefix, init, dims...)
	l.bias = t.param(prefix+"bias", initZero, dims[0])
	return l
}

// conv declares a convolution (out, in, kh, kw) with PyTorch's default initialisation,
// U(±1/√fan_in) with fan_in = in·kh·kw, for the weight and the bias when it has one.
func (t *paramTable) conv(prefix string, bias bool, dims ...int) linearParams {
	fanIn := 1
	for _, d := range dims[1:] {
		fanIn *= d
	}
	init := initUniform(1 / math.Sqrt(float64(fanIn)))
	l := t.weight(prefix, init, dims...)
	if bias {
		l.bias = t.param(prefix+"bias", init, dims[0])
	}
	return l
}

// mlp declares linear_1 (D, in) and linear_2 (D, D) under prefix, their weights drawn by
// init1 and init2 and their biases zero.
func (t *paramTable) mlp(prefix string, in, D int, init1, init2 initRule) mlpParams {
	var m mlpParams
	m.linear1 = t.linear(prefix+"linear_1.", init1, D, in)
	m.linear2 = t.linear(prefix+"linear_2.", init2, D, D)
	return m
}

// attention declares an attention module under prefix: the q, k and v projections (D, D),
// Xavier-uniform, with zero biases when qkvBias; when qkNorm, the RMSNorm weights of q and k
// (over the full width D), initialised to 1; the output projection to_out.0 with its weight
// drawn by outInit and a zero bias.
func (t *paramTable) attention(prefix string, D int, qkvBias, qkNorm bool, outInit initRule) attentionParams {
	proj := t.weight
	if qkvBias {
		proj = t.linear
	}
	var a attentionParams
	a.toQ = proj(prefix+"to_q.", initXavier, D, D)
	a.toK = proj(prefix+"to_k.", initXavier, D, D)
	a.toV = proj(prefix+"to_v.", initXavier, D, D)
	if qkNorm {
		a.normQ = t.param(prefix+"norm_q.weight", initFill(1), D)
		a.normK = t.param(prefix+"norm_k.weight", initFill(1), D)
	}
	a.toOut = t.linear(prefix+"to_out.0.", outInit, D, D)
	return a
}

// ParamSpecs lists every parameter of the network for the role, with diffusers' names and
// shapes, in a fixed order (embeddings, blocks in order, output, student heads). It needs the
// shapes only (no allocation), so it also serves to count the 1.6B model. cfg must be valid.
func ParamSpecs(cfg Config, role Role) []ParamSpec {
	return specsOf(newParamTable(cfg.mustResolved(), role).all)
}

// specsOf returns the specs of a table's parameters, in its order.
func specsOf(all []*param) []ParamSpec {
	specs := make([]ParamSpec, len(all))
	for i, p := range all {
		specs[i] = p.ParamSpec
	}
	return specs
}

// RoleOfNames tells a student parameter set (it has the guidance embedder) from a teacher's.
func RoleOfNames(names []string) Role {
	for _, n := range names {
		if strings.HasPrefix(n, guidanceEmbedderPrefix) {
			return Student
		}
	}
	return Teacher
}

// IsDiffusersParam reports whether a parameter belongs to diffusers' SanaTransformer2DModel
// (everything but the logvar head), i.e. whether it is exported.
func IsDiffusersParam(name string) bool { return !strings.HasPrefix(name, logvarPrefix) }

// ParamGroup names the part of the network a parameter belongs to, for counts and for
// training code that treats groups differently: "patch_embed", "time_embed",
// "guidance_embed", "caption", "blocks", "output", "logvar".
func ParamGroup(name string) string {
	has := func(prefix string) bool { return strings.HasPrefix(name, prefix) }
	switch {
	case has(patchEmbedPrefix):
		return "patch_embed"
	case has(guidanceEmbedderPrefix):
		return "guidance_embed"
	case has(timeEmbedPrefix):
		return "time_embed"
	case has(captionProjectionPrefix), has(captionNormPrefix):
		return "caption"
	case has(blocksPrefix):
		return "blocks"
	case has(logvarPrefix):
		return "logvar"
	}
	return "output"
}

// ParamGroups lists the groups in network order.
func ParamGroups() []string {
	return []string{"patch_embed", "time_embed", "guidance_embed", "caption", "blocks", "output", "logvar"}
}

// CountParams returns the number of elements per group (see ParamGroup) and in total.
func CountParams(specs []ParamSpec) (perGroup map[string]int64, total int64) {
	return safetensors.Count(specs, ParamGroup)
}
