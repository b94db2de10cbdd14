package model

import (
	"fmt"
	"math"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
	"github.com/sprint-distill/sprint/safetensors"
)

// The SANA ControlNet in diffusers' SanaControlNetModel layout (controlnets/controlnet_sana.py):
//
//	h    = PatchEmbed(X) + input_block(PatchEmbed(cond))     input_block zero-initialised
//	e, t0, y as in the transformer (its own time embedder, caption projection and norm)
//	h_i  = block_i(h_{i−1}, t0, y),  i = 0 … N−1             copies of the teacher's first N blocks
//	r_i  = scale · controlnet_blocks_i(h_i)                   zero-initialised Linear(D→D)
//
// and the transformer adds r_{i−1} to its hidden states after its block i, for i = 1 … N
// (diffusers' controlnet_block_samples in SanaTransformer2DModel.forward): block 0's output is
// left alone and N must be below the transformer's depth. Because both projections start at
// zero, a fresh ControlNet leaves the network's output exactly as it was.
//
// NVlabs' SanaMSControlNet wires the same weights differently (its copy 0 reads the output of
// the transformer's block 0, and copy i's residual enters before block i+1); diffusers'
// conversion script maps the weights one to one, and this package follows diffusers' wiring.
//
// The patch embedding is shared by the noisy input and the control latent, so the control
// latent has the latent's channels (in diffusers' pipeline: the VAE encoding of the control
// image, times the VAE scale). The ControlNet's time embedder is the teacher's
// (time_embed.emb.timestep_embedder): it has no guidance embedder, also in a student's
// ControlNet. With QK norm (model.qk_norm, model.cross_norm) its blocks carry the norm weights
// under SanaTransformer2DModel's names; diffusers' SanaControlNetModel has no qk_norm option
// and loads only the layout without them.

// Key prefixes of the ControlNet's own modules.
const (
	controlInputBlockPrefix = "input_block."
	controlBlocksPrefix     = "controlnet_blocks."
)

// ControlNetPrefix is the prefix under which a network's ControlNet parameters are kept when
// they share a parameter set with the network (a Sprint-ControlNet student trains both as one
// group): "controlnet.transformer_blocks.0.attn1.to_q.weight", …
const ControlNetPrefix = "controlnet."

// DefaultControlLayers is N, the number of transformer blocks a SANA ControlNet copies
// (SanaControlNetModel's num_layers, the NVlabs "ControlNet_D7" models).
const DefaultControlLayers = 7

// controlParamTable is the parameter table of a ControlNet with N copied blocks: every
// parameter declared once with its diffusers key, shape and initialisation (like paramTable).
type controlParamTable struct {
	all []*param

	patchEmbed        linearParams
	timeEmbedder      mlpParams
	timeLinear        linearParams
	captionProjection mlpParams
	captionNorm       *param
	blocks            []blockParams
	outBlocks         []linearParams // controlnet_blocks.i: zero-initialised Linear(D→D)
	inputBlock        linearParams   // input_block: zero-initialised Linear(D→D)
}

// newControlParamTable declares the ControlNet's parameters in SanaControlNetModel's order:
// embeddings, the N blocks, controlnet_blocks, input_block. The embeddings and blocks have the
// teacher's declarations (and initialisations); the projections start at zero.
func newControlParamTable(cfg Config, layers int) *controlParamTable {
	D, C, p, Dc := cfg.HiddenSize, cfg.InChannels, cfg.PatchSize, cfg.CaptionDim
	scaleShiftInit := initNormal(1 / math.Sqrt(float64(D)))
	b := &paramTable{} // the declaring helpers; b.all collects the order
	t := &controlParamTable{}
	t.patchEmbed = b.linear(patchEmbedPrefix+"proj.", initXavier, D, C, p, p)
	t.timeEmbedder = b.mlp(timeEmbedderPrefix(Teacher), sinusoidWidth, D, initNormal(0.02), initNormal(0.02))
	t.timeLinear = b.linear(timeEmbedPrefix+"linear.", initNormal(0.02), 6*D, D)
	t.captionProjection = b.mlp(captionProjectionPrefix, Dc, D, initNormal(0.02), initNormal(0.02))
	t.captionNorm = b.param(captionNormPrefix+"weight", initFill(0.01), D)
	for i := range layers {
		t.blocks = append(t.blocks, b.block(cfg, blockPrefix(i), scaleShiftInit))
	}
	for i := range layers {
		t.outBlocks = append(t.outBlocks, b.linear(fmt.Sprintf("%s%d.", controlBlocksPrefix, i), initZero, D, D))
	}
	t.inputBlock = b.linear(controlInputBlockPrefix, initZero, D, D)
	t.all = b.all
	return t
}

// ValidateControlLayers checks N against the transformer: 1 <= N < depth, since the residual
// of copy N−1 enters after the transformer's block N.
func ValidateControlLayers(cfg Config, layers int) error {
	r, err := cfg.Resolved()
	if err != nil {
		return err
	}
	if layers < 1 || layers >= r.Depth {
		return fmt.Errorf("control.num_layers: must be in [1, %d] for a model of depth %d (the residual of copy N−1 is added after block N), got %d",
			r.Depth-1, r.Depth, layers)
	}
	return nil
}

// ControlParamSpecs lists the parameters of a ControlNet with N copied blocks for the model
// config, with SanaControlNetModel's names and shapes in its order. cfg must be valid.
func ControlParamSpecs(cfg Config, layers int) []ParamSpec {
	return specsOf(newControlParamTable(cfg.mustResolved(), layers).all)
}

// CheckControlParams compares p with ControlParamSpecs(cfg, layers): nil when the names and
// shapes match exactly, else an error listing every missing, unexpected and mis-shaped key.
func CheckControlParams(cfg Config, layers int, p Params) error {
	specs := ControlParamSpecs(cfg, layers)
	return checkAgainst(specs, p, "ControlNet parameters")
}

// checkAgainst is CheckParams for any list of specs.
func checkAgainst(specs []ParamSpec, p Params, what string) error {
	missing, unexpected, misshaped := safetensors.Compare(specs, p)
	return KeysError(what, missing, unexpected, misshaped)
}

// InitControlParams returns a freshly initialised ControlNet (the teacher's initialisation
// rules for the embeddings and blocks, zero projections), each tensor from its own stream of
// (seed, name) as InitParams.
func InitControlParams(cfg Config, layers int, seed int64) (Params, error) {
	return initControlParamsFor(cfg, layers, seed, nil)
}

func initControlParamsFor(cfg Config, layers int, seed int64, keep func(string) bool) (Params, error) {
	cfg, err := cfg.ResolvedValid()
	if err != nil {
		return nil, err
	}
	if err := ValidateControlLayers(cfg, layers); err != nil {
		return nil, err
	}
	return initAll(newControlParamTable(cfg, layers).all, cfg.mustDType(), seed, ControlNetPrefix, keep, "init ControlNet")
}

// ControlNetFromTeacher builds a ControlNet initialised from a network's weights (SANA
// ControlNet's initialisation): the patch embedding, time embedder and t_block, caption
// projection and norm, and blocks 0 … N−1 are copies of the network's; input_block and
// controlnet_blocks are zero, so that the network with this ControlNet computes exactly what
// it computed without. src may be a teacher's or a student's parameters (the student's time
// embedder is taken, its guidance embedder and logvar head are not).
func ControlNetFromTeacher(cfg Config, layers int, src Params) (Params, error) {
	cfg, err := cfg.ResolvedValid()
	if err != nil {
		return nil, err
	}
	role := RoleOfNames(SortedNames(src))
	fresh, err := initControlParamsFor(cfg, layers, 0, func(name string) bool {
		return strings.HasPrefix(name, controlInputBlockPrefix) || strings.HasPrefix(name, controlBlocksPrefix)
	})
	if err != nil {
		return nil, err
	}
	out := make(Params)
	srcTime, dstTime := timeEmbedderPrefix(role), timeEmbedderPrefix(Teacher)
	for _, s := range ControlParamSpecs(cfg, layers) {
		if t, ok := fresh[s.Name]; ok {
			out[s.Name] = t
			continue
		}
		from := s.Name
		if rest, ok := strings.CutPrefix(s.Name, dstTime); ok {
			from = srcTime + rest
		}
		t, ok := src[from]
		if !ok {
			return nil, fmt.Errorf("initialising the ControlNet: the network has no %q", from)
		}
		clone, err := t.LocalClone()
		if err != nil {
			return nil, fmt.Errorf("initialising the ControlNet: copying %s: %w", from, err)
		}
		out[s.Name] = clone
	}
	if err := CheckControlParams(cfg, layers, out); err != nil {
		return nil, fmt.Errorf("initialising the ControlNet from the network's weights: %w", err)
	}
	return out, nil
}

// JoinControl returns one parameter set holding a network's parameters under their names and
// its ControlNet's under ControlNetPrefix (how a Sprint-ControlNet student trains as one group).
func JoinControl(net, control Params) Params {
	out := make(Params, len(net)+len(control))
	for k, v := range net {
		out[k] = v
	}
	for k, v := range control {
		out[ControlNetPrefix+k] = v
	}
	return out
}

// SplitControl separates a joined parameter set (see JoinControl) into the network's
// parameters and its ControlNet's (prefix removed); control is empty when there is none.
func SplitControl(p Params) (net, control Params) { return splitPrefixed(p, ControlNetPrefix) }

// SplitControlWeights is SplitControl for graph weights.
func SplitControlWeights(w Weights) (net, control Weights) {
	return splitPrefixed(w, ControlNetPrefix)
}

// splitPrefixed separates the entries of m whose names start with prefix (returned in
// prefixed, the prefix removed) from the others (in rest).
func splitPrefixed[M ~map[string]V, V any](m M, prefix string) (rest, prefixed M) {
	rest, prefixed = make(M), make(M)
	for k, v := range m {
		if name, ok := strings.CutPrefix(k, prefix); ok {
			prefixed[name] = v
		} else {
			rest[k] = v
		}
	}
	return rest, prefixed
}

// Control is the ControlNet input of a forward pass (Inputs.Control).
type Control struct {
	// Layers is N, the number of copied blocks (Weights must hold ControlParamSpecs(cfg, Layers)).
	Layers int
	// Weights are the ControlNet's parameters by SanaControlNetModel names.
	Weights Weights
	// Cond is the control latent (B, C, H, W), in the latent's units and shape. It is a
	// condition, not a state: TrigFlow passes it unchanged.
	Cond *Node
	// Scale is the conditioning scale multiplying every residual (diffusers' conditioning_scale).
	Scale float64
}

// controlResiduals runs the ControlNet on the transformer's inputs (x the latents, t the flow
// time, text and mask as given to Forward) and returns its N residuals (B, N_tokens, D), each
// scale·controlnet_blocks_i(h_i), in the transformer's dtype dt.
func controlResiduals(cfg Config, c *Control, x, t, text, mask *Node, hp, wp int) []*Node {
	if c.Cond == nil || c.Weights == nil {
		panic(fmt.Errorf("model.Forward: Control needs Cond and Weights"))
	}
	if err := ValidateControlLayers(cfg, c.Layers); err != nil {
		panic(err)
	}
	ct := newControlParamTable(cfg, c.Layers)
	w := c.Weights
	outDT := x.DType()
	patchW := w.get(ct.patchEmbed.weight)
	dt := patchW.DType()
	if !slices.Equal(x.Shape().Dimensions, c.Cond.Shape().Dimensions) {
		panic(fmt.Errorf("model.Forward: control latent %s must have the shape of the latents %s", c.Cond.Shape(), x.Shape()))
	}
	p, D, C := cfg.PatchSize, cfg.HiddenSize, cfg.InChannels
	B := x.Shape().Dimensions[0]
	embed := func(z *Node) *Node { // the shared p×p patch embedding (with its positional embedding, as diffusers')
		return addPosEmbed(cfg, linear(patchify(netgraph.Cast(z, dt), p), Reshape(patchW, D, C*p*p), w.get(ct.patchEmbed.bias)), hp, wp)
	}
	// h = PatchEmbed(x) + input_block(PatchEmbed(cond))
	h := Add(embed(x), ct.inputBlock.apply(w, embed(c.Cond)))

	// Its own time embedding (teacher's, no guidance) and caption projection, as in Forward.
	tt := netgraph.Cast(t, dt)
	cNoise := tt
	if !cfg.DenseTime {
		cNoise = MulScalar(tt, 1000)
	}
	emb := timestepMLP(w, ct.timeEmbedder, sinusoid(cNoise, dt))
	t0 := Reshape(ct.timeLinear.apply(w, silu(emb)), B, 6, D)
	y := ct.captionProjection.linear1.apply(w, netgraph.Cast(text, dt))
	y = ct.captionProjection.linear2.apply(w, geluTanh(y))
	y = rmsNorm(y, w.get(ct.captionNorm), captionNormEps)
	var bias *Node
	if mask != nil {
		m := netgraph.Cast(mask, netgraph.WideDType(dt))
		bias = Reshape(MulScalar(OneMinus(m), maskBias), B, 1, 1, m.Shape().Dimensions[1])
	}

	res := make([]*Node, c.Layers)
	for i, b := range ct.blocks {
		h = block(cfg, w, b, h, t0, y, bias, hp, wp)
		res[i] = netgraph.Cast(MulScalar(ct.outBlocks[i].apply(w, h), c.Scale), outDT) // r_i = scale·W_i h_i + scale·b_i
	}
	return res
}

// TrigFlowControl is TrigFlow with a ControlNet: the same transforms (§1), with the
// ControlNet run on the flow-space input x_flow and flow time t and its residuals added to the
// transformer's hidden states. The control latent is held as it is (it is an input the
// derivative of a JVP along (x̂, θ) does not move). ctrl nil is TrigFlow itself.
func TrigFlowControl(cfg Config, w Weights, ctrl *Control, xhat, theta, text, mask, guidance *Node, featureBlocks []int) (F *Node, logvar *Node, features []*Node) {
	if ctrl == nil {
		return TrigFlow(cfg, w, xhat, theta, text, mask, guidance, featureBlocks)
	}
	cfg, table := tableFor(cfg, guidance)
	dt := w.get(table.patchEmbed.weight).DType()
	xFlow, t := trigflowInput(netgraph.Cast(xhat, dt), netgraph.Cast(theta, dt))
	out := forward(cfg, table, w, Inputs{X: xFlow, T: t, Text: text, Mask: mask, Guidance: guidance, Control: ctrl}, featureBlocks)
	return trigflowOutput(xFlow, t, out.V), out.Logvar, out.Features
}
