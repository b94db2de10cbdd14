package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// Inputs are the flow-matching network's inputs.
type Inputs struct {
	X        *Node // (B, C, H, W) latents, NCHW
	T        *Node // (B) flow time t ∈ [0, 1] (x_t = (1−t)·x0 + t·noise)
	Text     *Node // (B, L, Dc) text-encoder hidden states
	Mask     *Node // (B, L) 1 for real tokens, 0 for padding (nil: all real)
	Guidance *Node // (B) raw guidance scale w for the student (scaled by guidance_embed_scale inside); nil for the teacher
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
// with c_noise = T (dense time) or 1000·T. The weights select the role: the student's
// guidance embedder and logvar head are used when Guidance is given (they must then be
// present). featureBlocks lists block indices whose outputs are returned in Features.
// Inputs are converted to the weights' dtype; with bfloat16 weights the attention and the
// norms run in float32.
func Forward(cfg Config, w Weights, in Inputs, featureBlocks []int) Outputs {
	cfg, table := tableFor(cfg, in.Guidance)
	return forward(cfg, table, w, in, featureBlocks)
}

// tableFor resolves cfg (panicking on an unknown preset) and returns the parameter table of
// the student when guidance is given, else of the teacher.
func tableFor(cfg Config, guidance *Node) (Config, *paramTable) {
	cfg, err := cfg.Resolved()
	if err != nil {
		panic(err)
	}
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
	patchW := w.get(table.patchEmbed.weight)
	dt := patchW.DType()
	x := toDType(in.X, dt)
	if x.Rank() != 4 {
		panic(fmt.Errorf("model.Forward: X must be (B, C, H, W), got %s", x.Shape()))
	}
	B, C, H, W := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2], x.Shape().Dimensions[3]
	p, D := cfg.PatchSize, cfg.HiddenSize
	if C != cfg.InChannels || H%p != 0 || W%p != 0 {
		panic(fmt.Errorf("model.Forward: X %s does not fit in_channels=%d, patch_size=%d", x.Shape(), cfg.InChannels, p))
	}
	hp, wp := H/p, W/p
	for _, id := range featureBlocks {
		if id < 0 || id >= cfg.Depth {
			panic(fmt.Errorf("model.Forward: feature block %d outside [0, %d)", id, cfg.Depth))
		}
	}

	// Patch embedding: p×p stride-p convolution as a matmul over flattened (C, p, p) patches.
	tok := patchify(x, p)                                                      // (B, N, C·p·p)
	tok = linear(tok, Reshape(patchW, D, C*p*p), w.get(table.patchEmbed.bias)) // (B, N, D)

	// Time (and guidance) embedding, adaLN-single modulation t0.
	t := toDType(in.T, dt)
	cNoise := t
	if !cfg.DenseTime {
		cNoise = MulScalar(t, 1000)
	}
	emb := timestepMLP(w, table.timeEmbedder, sinusoid(cNoise, dt))
	if in.Guidance != nil {
		gw := MulScalar(toDType(in.Guidance, dt), cfg.GuidanceEmbedScale)
		emb = Add(emb, timestepMLP(w, *table.guidanceEmbedder, sinusoid(gw, dt)))
	}
	t0 := table.timeLinear.apply(w, silu(emb)) // (B, 6D)
	t0 = Reshape(t0, B, 6, D)

	// Caption projection and norm.
	text := toDType(in.Text, dt)
	y := table.captionProjection.linear1.apply(w, text)
	y = geluTanh(y)
	y = table.captionProjection.linear2.apply(w, y)
	y = rmsNorm(y, w.get(table.captionNorm), captionNormEps)
	var bias *Node // (B, 1, 1, L) additive mask bias, −10000 on padding
	if in.Mask != nil {
		m := toDType(in.Mask, attnDType(dt))
		bias = MulScalar(OneMinus(m), maskBias)
		bias = Reshape(bias, B, 1, 1, m.Shape().Dimensions[1])
	}

	out := Outputs{TimeEmbedding: emb}
	blockOut := make(map[int]*Node, len(featureBlocks))
	h := tok
	for i, b := range table.blocks {
		h = block(cfg, w, b, h, t0, y, bias, hp, wp)
		if slices.Contains(featureBlocks, i) {
			blockOut[i] = h
		}
	}
	for _, id := range featureBlocks {
		out.Features = append(out.Features, blockOut[id])
	}

	// Final layer: modulated LN with (shift, scale) = table + e, projection, unpatchify.
	mod := Add(ExpandAxes(w.get(table.scaleShiftTable), 0), ExpandAxes(emb, 1)) // (B, 2, D)
	shift, scale := Slice(mod, AxisRange(), AxisRange(0, 1)), Slice(mod, AxisRange(), AxisRange(1, 2))
	h = Add(Mul(layerNorm(h, layerNormEps), OnePlus(scale)), shift)
	h = table.projOut.apply(w, h) // (B, N, p·p·C)
	out.V = unpatchify(h, hp, wp, p, C)

	if table.logvar != nil { // the student's head is optional in w
		if lw, ok := w[table.logvar.weight.Name]; ok && lw != nil {
			lv := linear(emb, lw, w.get(table.logvar.bias)) // (B, 1)
			out.Logvar = Reshape(lv, B)
		}
	}
	return out
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

// linearAttention is SANA's ReLU linear attention (LiteLA), per head of width d:
//
//	out_n = Σ_m v_m (k_m·q_n) / (Σ_m k_m·q_n + ε),  q, k ← ReLU(RMSNorm(q)), ReLU(RMSNorm(k))
//
// computed as (q·(kᵀv)) / (q·Σk + ε), which equals the reference's padded-V product, in
// float32 when the model dtype is lower.
func linearAttention(cfg Config, w Weights, a attentionParams, x *Node) *Node {
	dt := x.DType()
	q := a.toQ.apply(w, x)
	k := a.toK.apply(w, x)
	v := a.toV.apply(w, x)
	if a.normQ != nil { // the table has the QK norm weights when cfg.QKNorm is set
		q = rmsNorm(q, w.get(a.normQ), cfg.QKNormEps)
		k = rmsNorm(k, w.get(a.normK), cfg.QKNormEps)
	}
	adt := attnDType(dt)
	dims := x.Shape().Dimensions
	B, N, D := dims[0], dims[1], dims[2]
	heads, d := cfg.SelfHeads(), cfg.SelfHeadDim
	q = Reshape(relu(toDType(q, adt)), B, N, heads, d)
	k = Reshape(relu(toDType(k, adt)), B, N, heads, d)
	v = Reshape(toDType(v, adt), B, N, heads, d)
	kv := Einsum("bnhd,bnhe->bhde", k, v)                   // Σ_m k_m v_mᵀ
	kSum := ReduceSum(k, 1)                                 // Σ_m k_m: (B, heads, d)
	num := Einsum("bnhd,bhde->bnhe", q, kv)                 // (B, N, heads, d)
	den := ExpandAxes(Einsum("bnhd,bhd->bnh", q, kSum), -1) // (B, N, heads, 1)
	o := Div(num, AddScalar(den, cfg.LinearAttnEps))
	o = toDType(Reshape(o, B, N, D), dt)
	return a.toOut.apply(w, o)
}

// crossAttention is multi-head softmax attention from image tokens x (queries) to caption
// tokens y (keys, values), scale 1/√d, padded tokens biased by −10000, in float32 when the
// model dtype is lower.
func crossAttention(cfg Config, w Weights, a attentionParams, x, y, bias *Node) *Node {
	dt := x.DType()
	q := a.toQ.apply(w, x)
	k := a.toK.apply(w, y)
	v := a.toV.apply(w, y)
	if a.normQ != nil { // the table has the QK norm weights when cfg.CrossNorm is set
		q = rmsNorm(q, w.get(a.normQ), cfg.CrossNormEps)
		k = rmsNorm(k, w.get(a.normK), cfg.CrossNormEps)
	}
	adt := attnDType(dt)
	B, N, D := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	L := y.Shape().Dimensions[1]
	heads := cfg.CrossHeads
	d := D / heads
	q = Reshape(toDType(q, adt), B, N, heads, d)
	k = Reshape(toDType(k, adt), B, L, heads, d)
	v = Reshape(toDType(v, adt), B, L, heads, d)
	logits := MulScalar(Einsum("bnhd,blhd->bhnl", q, k), 1/math.Sqrt(float64(d)))
	if bias != nil {
		logits = Add(logits, bias)
	}
	o := Einsum("bhnl,blhd->bnhd", softmax(logits), v)
	o = toDType(Reshape(o, B, N, D), dt)
	return a.toOut.apply(w, o)
}

// mixFFN is SANA's GLUMBConv on the token grid:
// 1×1 conv D→2Hd (bias) → SiLU → 3×3 depthwise conv (bias, pad 1) → a·SiLU(gate) → 1×1 conv Hd→D (no bias).
//
// The 1×1 convolutions are token-major matrix products; the depthwise convolution and the GLU
// product run channel-major, (channels, B, N), reached by plain 2-D transposes. The GLU halves
// [a | gate] come from the two halves of the weights rather than from slicing activations.
func mixFFN(cfg Config, w Weights, f mixFFNParams, x *Node, hp, wp int) *Node {
	dims := x.Shape().Dimensions
	B, N, D := dims[0], dims[1], dims[2]
	hd := cfg.FFNHidden()
	wInv := Reshape(w.get(f.convInverted.weight), 2*hd, D)
	bInv := w.get(f.convInverted.bias)
	kDepth := Reshape(w.get(f.convDepth.weight), 2*hd, 9)
	bDepth := w.get(f.convDepth.bias)
	half := func(t *Node, i int) *Node { // rows [i·hd, (i+1)·hd) of a weight
		axes := []SliceAxisSpec{AxisRange(i*hd, (i+1)*hd)}
		for range t.Rank() - 1 {
			axes = append(axes, AxisRange())
		}
		return Slice(t, axes...)
	}
	branch := func(i int) *Node { // conv_inverted → SiLU → conv_depth for one GLU half: (hd, B, N)
		z := silu(linear(x, half(wInv, i), half(bInv, i)))            // (B, N, hd)
		zc := Reshape(Transpose(Reshape(z, B*N, hd), 0, 1), hd, B, N) // channel-major
		return depthwise3x3(zc, half(kDepth, i), half(bDepth, i), hp, wp)
	}
	m := Mul(branch(0), silu(branch(1)))                             // (hd, B, N)
	m = Reshape(Transpose(Reshape(m, hd, B*N), 0, 1), B, N, hd)      // token-major
	return linear(m, Reshape(w.get(f.convPoint.weight), D, hd), nil) // (B, N, D)
}

// denseDepthwiseMaxTokens bounds the grid size (tokens) up to which the depthwise convolution
// is computed as a per-channel N×N matrix product; above it the nine shifted products are used.
const denseDepthwiseMaxTokens = 64

// depthwise3x3 applies a per-channel 3×3 cross-correlation with zero padding 1 on the hp×wp
// token grid: z (C, B, N) channel-major with N = hp·wp tokens in row-major order, kernel
// (C, 9) in PyTorch's (i, j) row-major tap order, bias (C):
//
//	out[c, b, (h, w)] = bias[c] + Σ_{i,j} k[c, 3i+j]·z[c, b, (h+i−1, w+j−1)]   (zero outside the grid)
//
// For small grids the taps are folded into a per-channel matrix K[c] = Σ_t k[c, t]·S_t (S_t the
// 0/1 shift operators) and applied as one batched matrix product, which the Go backend runs far
// faster than nine element-wise passes; larger grids use the shifted products. Every op has a
// second-order gradient.
func depthwise3x3(z, kernel, bias *Node, hp, wp int) *Node {
	dims := z.Shape().Dimensions
	C, B, N := dims[0], dims[1], dims[2]
	var out *Node
	if N <= denseDepthwiseMaxTokens {
		S := ConstAsDType(z.Graph(), z.DType(), shiftOperators(hp, wp)) // (9, N·N)
		K := Reshape(DotGeneral(kernel, []int{1}, nil, S, []int{0}, nil), C, N, N)
		out = DotGeneral(z, []int{2}, []int{0}, K, []int{2}, []int{0}) // (C, B, N)
	} else {
		zz := Reshape(z, C, B, hp, wp)
		zero := ScalarZero(z.Graph(), z.DType())
		zp := Pad(zz, zero, compute.PadAxis{}, compute.PadAxis{}, compute.PadAxis{Start: 1, End: 1}, compute.PadAxis{Start: 1, End: 1})
		for t := range 9 {
			i, j := t/3, t%3
			tap := Reshape(Slice(kernel, AxisRange(), AxisRange(t, t+1)), C, 1, 1, 1)
			term := Mul(Slice(zp, AxisRange(), AxisRange(), AxisRange(i, i+hp), AxisRange(j, j+wp)), tap)
			if out == nil {
				out = term
			} else {
				out = Add(out, term)
			}
		}
		out = Reshape(out, C, B, N)
	}
	return Add(out, Reshape(bias, C, 1, 1))
}

// shiftOperators returns the nine 0/1 matrices S_t[n, m] = 1 when token m is token n moved by
// tap t = 3i+j, i.e. (h+i−1, w+j−1), flattened to (9, N·N).
func shiftOperators(hp, wp int) [][]float64 {
	N := hp * wp
	S := make([][]float64, 9)
	for t := range 9 {
		S[t] = make([]float64, N*N)
		di, dj := t/3-1, t%3-1
		for h := range hp {
			for w := range wp {
				hh, ww := h+di, w+dj
				if hh >= 0 && ww >= 0 && hh < hp && ww < wp {
					S[t][(h*wp+w)*N+hh*wp+ww] = 1
				}
			}
		}
	}
	return S
}

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

// linear returns x·Wᵀ + b for W in PyTorch layout (out, in); b may be nil. Written as a
// DotGeneral (not nn.Dense, whose fused op has no second-order gradient). x is flattened to
// (rows, in) around the product, so that the weight gradient (a contraction over rows) needs
// only a 2-D transpose on the Go backend rather than a generic N-D one.
func linear(x, weight, bias *Node) *Node {
	dims := x.Shape().Dimensions
	in, out := dims[len(dims)-1], weight.Shape().Dimensions[0]
	rows := x.Shape().Size() / max(in, 1)
	y := DotGeneral(Reshape(x, rows, in), []int{1}, nil, weight, []int{1}, nil) // (rows, out)
	if bias != nil {
		y = Add(y, Reshape(bias, 1, out))
	}
	return Reshape(y, append(slices.Clone(dims[:len(dims)-1]), out)...)
}

// sinusoid is the 256-wide timestep embedding [cos(c·f_i), sin(c·f_i)], f_i = exp(−ln(10⁴)·i/128),
// i = 0…127 (§4), computed in float32 (float64 for float64 models) and cast to dt.
func sinusoid(c *Node, dt dtypes.DType) *Node {
	half := sinusoidWidth / 2
	freqs := make([]float64, half)
	for i := range freqs {
		freqs[i] = math.Exp(-math.Log(10000) * float64(i) / float64(half))
	}
	adt := attnDType(dt)
	f := ConstAsDType(c.Graph(), adt, freqs)
	args := Mul(ExpandAxes(toDType(c, adt), -1), ExpandAxes(f, 0)) // (B, 128)
	return toDType(Concatenate([]*Node{Cos(args), Sin(args)}, -1), dt)
}

// timestepMLP is Linear(256→D) → SiLU → Linear(D→D): the timestep or guidance embedder.
func timestepMLP(w Weights, m mlpParams, e *Node) *Node {
	h := m.linear1.apply(w, e)
	return m.linear2.apply(w, silu(h))
}

// rmsNorm returns x/√(mean(x²)+ε)·weight over the last axis, in float32 for half dtypes.
// It uses Sqrt, not Rsqrt (which has no gradient in GoMLX).
func rmsNorm(x, weight *Node, eps float64) *Node {
	xf := toDType(x, attnDType(x.DType()))
	ms := ReduceAndKeep(Square(xf), ReduceMean, -1)
	y := toDType(Div(xf, Sqrt(AddScalar(ms, eps))), x.DType())
	return Mul(y, ExpandLeftToRank(toDType(weight, x.DType()), y.Rank()))
}

// layerNorm normalises over the last axis without affine parameters: (x−μ)/√(σ²+ε).
func layerNorm(x *Node, eps float64) *Node {
	xf := toDType(x, attnDType(x.DType()))
	c := Sub(xf, ReduceAndKeep(xf, ReduceMean, -1))
	v := ReduceAndKeep(Square(c), ReduceMean, -1)
	return toDType(Div(c, Sqrt(AddScalar(v, eps))), x.DType())
}

// softmax over the last axis, decomposed (max-shifted exp over its sum) so that every op has
// a second-order gradient.
func softmax(logits *Node) *Node {
	m := StopGradient(ReduceAndKeep(logits, ReduceMax, -1))
	e := Exp(Sub(logits, m))
	return Div(e, ReduceAndKeep(e, ReduceSum, -1))
}

func silu(x *Node) *Node { return Mul(x, Sigmoid(x)) }

func relu(x *Node) *Node { return Max(x, ZerosLike(x)) }

// geluTanh is GELU with the tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
func geluTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return MulScalar(Mul(x, OnePlus(Tanh(inner))), 0.5)
}

// attnDType is the dtype attention and norms run in: float64 stays, anything else is float32.
func attnDType(dt dtypes.DType) dtypes.DType {
	if dt == dtypes.Float64 {
		return dtypes.Float64
	}
	return dtypes.Float32
}

func toDType(x *Node, dt dtypes.DType) *Node {
	if x.DType() == dt {
		return x
	}
	return ConvertDType(x, dt)
}
