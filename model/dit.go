package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// Inputs are the flow-matching network's inputs.
type Inputs struct {
	X        *Node // (B, C, H, W) latents, NCHW
	T        *Node // (B) flow time t ∈ [0, 1] (x_t = (1−t)·x0 + t·noise)
	Text     *Node // (B, L, Dc) text-encoder hidden states
	Mask     *Node // (B, L) 1 for real tokens, 0 for padding (nil: all real)
	Guidance *Node // (B) raw guidance scale w for the student (scaled by guidance_embed_scale inside); nil for the teacher

	// Control is a ControlNet with its control latent (controlnet.go); nil: the plain network.
	Control *Control
}

// Outputs are the flow-matching network's outputs.
type Outputs struct {
	V             *Node   // (B, C, H, W) predicted velocity v = noise − x0
	Features      []*Node // (B, N, D) outputs of the requested blocks, in request order
	TimeEmbedding *Node   // (B, D) time (+ guidance) embedding: feeds t_block, the final layer and logvar
	Logvar        *Node   // (B) adaptive-weight log-variance (student only, else nil)
}

// Forward runs the SANA Linear DiT (reference notes §8) and returns the flow velocity:
//
//	tokens = PatchEmbed(X) ; e = MLP(sinusoid(c_noise(T))) [+ MLP(sinusoid(0.1·w))]
//	t0 = Linear(SiLU(e)) ∈ R^{6D} ; y = RMSNorm(Linear(GELU_tanh(Linear(Text))))
//	per block: (sh1, sc1, g1, sh2, sc2, g2) = table + t0
//	  x += g1 · LinAttn(LN(x)·(1+sc1) + sh1) ; x += CrossAttn(x, y, Mask) ; x += g2 · MixFFN(LN(x)·(1+sc2) + sh2)
//	V = Unpatchify(Linear(LN(x)·(1+scale) + shift)), (shift, scale) = table₂ + e
//
// with c_noise = T (dense time) or 1000·T. With in.Control, a ControlNet's residuals are added
// to h after blocks 1 … N (controlnet.go); without, nothing else changes. Guidance selects the role: w must hold the
// parameters of ParamSpecs(cfg, Student) when it is given (the logvar head may be left out,
// Logvar is then nil), of ParamSpecs(cfg, Teacher) otherwise. featureBlocks lists block indices whose outputs are returned in Features.
// The network computes in model.dtype: weights and inputs are converted to it where they are
// read (see CastWeights); with a half compute dtype the attention, the norms, the time
// sinusoid and the logvar head run in float32.
func Forward(cfg Config, w Weights, in Inputs, featureBlocks []int) Outputs {
	cfg, table := tableFor(cfg, in.Guidance)
	return forward(cfg, table, w, in, featureBlocks)
}

// tableFor resolves cfg (panicking on an unknown preset) and returns the parameter table of
// the student when guidance is given, else of the teacher.
func tableFor(cfg Config, guidance *Node) (Config, *paramTable) {
	cfg = cfg.mustResolved()
	role := Teacher
	if guidance != nil {
		role = Student
	}
	return cfg, newParamTable(cfg, role)
}

// forward is Forward with a resolved config and the parameter table of the role.
func forward(cfg Config, table *paramTable, w Weights, in Inputs, featureBlocks []int) Outputs {
	if in.X == nil || in.T == nil || in.Text == nil {
		panic(fmt.Errorf("model.Forward: X, T and Text are required"))
	}
	dt := cfg.mustDType()
	stored := w
	w = castWeights(w, dt)
	for _, id := range featureBlocks {
		if id < 0 || id >= cfg.Depth {
			panic(fmt.Errorf("model.Forward: feature block %d outside [0, %d)", id, cfg.Depth))
		}
	}
	x := netgraph.Cast(in.X, dt)
	tok, hp, wp := embedTokens(cfg, table, w, x)
	emb, t0 := embedTime(cfg, table, w, in.T, in.Guidance)
	y, bias := embedCaption(cfg, table, w, in.Text, in.Mask)

	var residuals []*Node // ControlNet residuals r_0 … r_{N−1} (controlnet.go)
	if in.Control != nil {
		residuals = controlResiduals(cfg, in.Control, x, in.T, in.Text, in.Mask, hp, wp)
	}

	out := Outputs{TimeEmbedding: emb}
	blockOut := make(map[int]*Node, len(featureBlocks))
	h := tok
	for i, b := range table.blocks {
		h = block(cfg, w, b, blockInput(cfg, h), t0, y, bias, hp, wp)
		if i >= 1 && i <= len(residuals) { // diffusers: h += controlnet_block_samples[i−1] after block i
			h = Add(h, residuals[i-1])
		}
		if slices.Contains(featureBlocks, i) {
			blockOut[i] = blockResult(cfg, h)
		}
	}
	h = blockResult(cfg, h)
	for _, id := range featureBlocks {
		out.Features = append(out.Features, blockOut[id])
	}
	out.V = finalLayer(cfg, table, w, h, emb, hp, wp)
	out.Logvar = logvarHead(cfg, table, stored, emb)
	return out
}

// embedTokens is the patch embedding of x (B, C, H, W) in the compute dtype: a p×p stride-p
// convolution as a matmul over flattened (C, p, p) patches, plus the positional embedding
// under model.use_pe (posembed.go). It returns the tokens (B, N, D) and
// the token grid (hp, wp).
func embedTokens(cfg Config, table *paramTable, w Weights, x *Node) (tok *Node, hp, wp int) {
	if x.Rank() != 4 {
		panic(fmt.Errorf("model.Forward: X must be (B, C, H, W), got %s", x.Shape()))
	}
	C, H, W := x.Shape().Dimensions[1], x.Shape().Dimensions[2], x.Shape().Dimensions[3]
	p, D := cfg.PatchSize, cfg.HiddenSize
	if C != cfg.InChannels || H%p != 0 || W%p != 0 {
		panic(fmt.Errorf("model.Forward: X %s does not fit in_channels=%d, patch_size=%d", x.Shape(), cfg.InChannels, p))
	}
	tok = patchify(x, p)                                                                               // (B, N, C·p·p)
	tok = linear(tok, Reshape(w.get(table.patchEmbed.weight), D, C*p*p), w.get(table.patchEmbed.bias)) // (B, N, D)
	return addPosEmbed(cfg, tok, H/p, W/p), H / p, W / p
}

// embedTime is the time (and guidance) embedding e (B, D) and the adaLN-single modulation t0
// (B, 6, D). The time enters the sinusoid in full precision (outerDType), whatever the compute
// dtype.
func embedTime(cfg Config, table *paramTable, w Weights, T, guidance *Node) (emb, t0 *Node) {
	dt := cfg.mustDType()
	odt := netgraph.WideDType(dt)
	cNoise := netgraph.Cast(T, odt)
	if !cfg.DenseTime {
		cNoise = MulScalar(cNoise, 1000)
	}
	emb = timestepMLP(w, table.timeEmbedder, sinusoid(cNoise, dt))
	if guidance != nil {
		gw := MulScalar(netgraph.Cast(guidance, odt), cfg.GuidanceEmbedScale)
		emb = Add(emb, timestepMLP(w, *table.guidanceEmbedder, sinusoid(gw, dt)))
	}
	t0 = table.timeLinear.apply(w, silu(emb)) // (B, 6D)
	return emb, Reshape(t0, T.Shape().Dimensions[0], 6, cfg.HiddenSize)
}

// embedCaption is the caption projection and norm y (B, L, D) and the additive mask bias
// (B, 1, 1, L), −10000 on padding (nil without a mask).
func embedCaption(cfg Config, table *paramTable, w Weights, text, mask *Node) (y, bias *Node) {
	dt := cfg.mustDType()
	y = table.captionProjection.linear1.apply(w, netgraph.Cast(text, dt))
	y = geluTanh(y)
	y = table.captionProjection.linear2.apply(w, y)
	y = rmsNorm(y, w.get(table.captionNorm), captionNormEps)
	if mask != nil {
		m := netgraph.Cast(mask, netgraph.WideDType(dt))
		bias = MulScalar(OneMinus(m), maskBias)
		bias = Reshape(bias, m.Shape().Dimensions[0], 1, 1, m.Shape().Dimensions[1])
	}
	return y, bias
}

// finalLayer is the modulated LN with (shift, scale) = table + e, the output projection and
// the unpatchify: the velocity (B, C, H, W) from the last block's tokens h.
func finalLayer(cfg Config, table *paramTable, w Weights, h, emb *Node, hp, wp int) *Node {
	mod := Add(ExpandAxes(w.get(table.scaleShiftTable), 0), ExpandAxes(emb, 1)) // (B, 2, D)
	shift, scale := Slice(mod, AxisRange(), AxisRange(0, 1)), Slice(mod, AxisRange(), AxisRange(1, 2))
	h = Add(Mul(layerNorm(h, layerNormEps), OnePlus(scale)), shift)
	h = table.projOut.apply(w, h) // (B, N, p·p·C)
	return unpatchify(h, hp, wp, cfg.PatchSize, cfg.InChannels)
}

// logvarHead is the student's adaptive-weight log-variance (B) from the time embedding, in
// float32 (float64 for float64 models) on the stored weights; nil for the teacher or when the
// head is left out of stored.
func logvarHead(cfg Config, table *paramTable, stored Weights, emb *Node) *Node {
	if table.logvar == nil {
		return nil
	}
	lw, ok := stored[table.logvar.weight.Name]
	if !ok || lw == nil {
		return nil
	}
	odt := netgraph.WideDType(cfg.mustDType())
	lv := linear(netgraph.Cast(emb, odt), netgraph.Cast(lw, odt), netgraph.Cast(stored.get(table.logvar.bias), odt)) // (B, 1)
	return Reshape(lv, emb.Shape().Dimensions[0])
}

// block is one SANA transformer block with adaLN-single modulation (§8):
//
//	(sh1, sc1, g1, sh2, sc2, g2) = scale_shift_table + t0
//	x ← x + g1 · LinAttn(LN(x)·(1+sc1) + sh1)
//	x ← x + CrossAttn(x, y)            (no norm, no gate)
//	x ← x + g2 · MixFFN(LN(x)·(1+sc2) + sh2)
func block(cfg Config, w Weights, b blockParams, x, t0, y, bias *Node, hp, wp int) *Node {
	mod := Add(ExpandAxes(w.get(b.scaleShiftTable), 0), t0) // (B, 6, D)
	chunk := func(i int) *Node { return Slice(mod, AxisRange(), AxisRange(i, i+1)) }
	h := modulate(layerNorm(x, layerNormEps), chunk(0), chunk(1))
	x = Add(x, Mul(chunk(2), linearAttention(cfg, w, b.attn1, h)))
	x = Add(x, crossAttention(cfg, w, b.attn2, x, y, bias))
	h = modulate(layerNorm(x, layerNormEps), chunk(3), chunk(4))
	return Add(x, Mul(chunk(5), mixFFN(cfg, w, b.ff, h, hp, wp)))
}

// modulate returns x·(1+scale) + shift.
func modulate(x, shift, scale *Node) *Node { return Add(Mul(x, OnePlus(scale)), shift) }

// patchify turns latents (B, C, H, W) into tokens (B, N, C·p·p), tokens in row-major (h, w)
// order and each token's features in (c, i, j) order, matching a PyTorch p×p conv kernel.
func patchify(x *Node, p int) *Node {
	d := x.Shape().Dimensions
	B, C, H, W := d[0], d[1], d[2], d[3]
	if p == 1 {
		return Reshape(TransposeAllAxes(x, 0, 2, 3, 1), B, H*W, C)
	}
	x = Reshape(x, B, C, H/p, p, W/p, p)
	x = TransposeAllAxes(x, 0, 2, 4, 1, 3, 5) // (B, H/p, W/p, C, p, p)
	return Reshape(x, B, (H/p)*(W/p), C*p*p)
}

// unpatchify inverts the output projection's layout: tokens (B, N, p·p·C) with features in
// (i, j, c) order (diffusers' unpatchify) back to (B, C, H, W).
func unpatchify(x *Node, hp, wp, p, C int) *Node {
	B := x.Shape().Dimensions[0]
	x = Reshape(x, B, hp, wp, p, p, C)
	x = TransposeAllAxes(x, 0, 5, 1, 3, 2, 4) // (B, C, hp, p, wp, p)
	return Reshape(x, B, C, hp*p, wp*p)
}

// sinusoid is the 256-wide timestep embedding [cos(c·f_i), sin(c·f_i)], f_i = exp(−ln(10⁴)·i/128),
// i = 0…127 (§4), computed in float32 (float64 for float64 models) and cast to dt.
func sinusoid(c *Node, dt dtypes.DType) *Node {
	half := sinusoidWidth / 2
	freqs := make([]float64, half)
	for i := range freqs {
		freqs[i] = math.Exp(-math.Log(10000) * float64(i) / float64(half))
	}
	adt := netgraph.WideDType(dt)
	f := ConstAsDType(c.Graph(), adt, freqs)
	args := Mul(ExpandAxes(netgraph.Cast(c, adt), -1), ExpandAxes(f, 0)) // (B, 128)
	return netgraph.Cast(Concatenate([]*Node{Cos(args), Sin(args)}, -1), dt)
}

// timestepMLP is Linear(256→D) → SiLU → Linear(D→D): the timestep or guidance embedder.
func timestepMLP(w Weights, m mlpParams, e *Node) *Node {
	h := m.linear1.apply(w, e)
	return m.linear2.apply(w, silu(h))
}
