package vae

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// linearAttnEps is SanaMultiscaleLinearAttention's eps (1e-15).
const linearAttnEps = 1e-15

// multiscaleAttention is diffusers' SanaMultiscaleLinearAttention with its processor
// (SanaMultiscaleAttnProcessor2_0) and residual, on channels-last x (B, H, W, C):
//
//	qkv    = [to_q(x) | to_k(x) | to_v(x)]                      3·inner channels, inner = heads·d
//	scale s: proj_out_s(proj_in_s(qkv))                          k_s×k_s depthwise, then 1×1 in 3·heads groups
//	m      = [qkv | scale 0 | …]                                 3·inner·(1+S) channels
//	m viewed as G = heads·(1+S) groups of 3d consecutive channels; in group g:
//	  q, k, v = channels [0, d), [d, 2d), [2d, 3d);  q, k ← ReLU(q), ReLU(k)
//	  out_n = Σ_m v_m (k_m·q_n) / (Σ_m k_m·q_n + ε)            ε = 1e-15, over the H·W positions
//	y      = x + norm_out(to_out(out))                           out: G·d channels, group-major
//
// The grouping follows the processor's reshape(B, −1, 3d, H·W) of the concatenated channels, so
// a group's "q", "k" and "v" are consecutive channel slices, not the to_q/to_k/to_v outputs of
// one head. diffusers computes out with the padded-value product (v padded with a row of ones,
// (v̂ kᵀ) q, last row the denominator) when H·W > d and as softmax-free quadratic attention
// ((kᵀq) normalised over keys, then v·scores) otherwise; both are the formula above, and both
// forms are used here under the same rule. Everything runs in float32.
func multiscaleAttention(c Config, w Weights, l layer, x *Node) *Node {
	B, H, W, C := dims4(x)
	d := c.AttentionHeadDim
	heads := attnHeads(c, C)
	pre := l.prefix + "attn."
	q := dense(x, w.get(pre+"to_q.weight"), nil)
	k := dense(x, w.get(pre+"to_k.weight"), nil)
	v := dense(x, w.get(pre+"to_v.weight"), nil)
	qkv := Concatenate([]*Node{q, k, v}, -1) // (B, H, W, 3·inner)
	scales := []*Node{qkv}
	for s := range l.multiscales {
		sp := fmt.Sprintf("%sto_qkv_multiscale.%d.", pre, s)
		h := depthwise(qkv, w.get(sp+"proj_in.weight"), nil)
		scales = append(scales, groupedPointwise(h, w.get(sp+"proj_out.weight"), 3*heads))
	}
	m := qkv
	if len(scales) > 1 {
		m = Concatenate(scales, -1)
	}
	G := heads * (1 + len(l.multiscales))
	N := H * W
	m = Reshape(m, B, N, G, 3, d)
	part := func(i int) *Node {
		return Reshape(crop(m, all(B), all(N), all(G), [2]int{i, i + 1}), B, N, G, d)
	}
	qg, kg, vg := relu(part(0)), relu(part(1)), part(2)
	var out *Node // (B, N, G, d)
	if N > d {
		// Linear form: (Σ_m v_m k_mᵀ) q_n over (Σ_m k_m)·q_n.
		kv := Einsum("bmgi,bmgj->bgij", kg, vg)                  // (B, G, d_k, d_v)
		num := Einsum("bngi,bgij->bngj", qg, kv)                 // (B, N, G, d_v)
		kSum := ReduceSum(kg, 1)                                 // (B, G, d)
		den := ExpandAxes(Einsum("bngi,bgi->bng", qg, kSum), -1) // (B, N, G, 1)
		out = Div(num, AddScalar(den, linearAttnEps))
	} else {
		// Quadratic form: scores[m, n] = k_m·q_n, normalised over m, then Σ_m v_m scores[m, n].
		scores := Einsum("bmgi,bngi->bgmn", kg, qg)                                         // (B, G, M, N)
		scores = Div(scores, AddScalar(ReduceAndKeep(scores, ReduceSum, 2), linearAttnEps)) // over m
		out = Einsum("bgmn,bmgj->bngj", scores, vg)
	}
	out = Reshape(out, B, H, W, G*d)
	y := dense(out, w.get(pre+"to_out.weight"), nil)
	y = norm(w, l.norm, pre+"norm_out", y)
	return Add(y, x)
}
