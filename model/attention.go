package model

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// project returns the queries of x and the keys and values of y, the queries and keys
// RMS-normalised (ε eps) when the attention has QK norm weights.
func (a attentionParams) project(w Weights, x, y *Node, eps float64) (q, k, v *Node) {
	q, k, v = a.toQ.apply(w, x), a.toK.apply(w, y), a.toV.apply(w, y)
	if a.normQ != nil {
		q = rmsNorm(q, w.get(a.normQ), eps)
		k = rmsNorm(k, w.get(a.normK), eps)
	}
	return q, k, v
}

// linearAttention is SANA's ReLU linear attention (LiteLA), per head of width d:
//
//	out_n = Σ_m v_m (k_m·q_n) / (Σ_m k_m·q_n + ε),  q, k ← ReLU(RMSNorm(q)), ReLU(RMSNorm(k))
//
// computed as (q·(kᵀv)) / (q·Σk + ε), which equals the reference's padded-V product, in
// float32 when the model dtype is lower.
func linearAttention(cfg Config, w Weights, a attentionParams, x *Node) *Node {
	dt := x.DType()
	q, k, v := a.project(w, x, x, cfg.QKNormEps) // the table has the QK norm weights when cfg.QKNorm is set
	adt := netgraph.WideDType(dt)
	dims := x.Shape().Dimensions
	B, N, D := dims[0], dims[1], dims[2]
	heads, d := cfg.SelfHeads(), cfg.SelfHeadDim
	q = Reshape(relu(netgraph.Cast(q, adt)), B, N, heads, d)
	k = Reshape(relu(netgraph.Cast(k, adt)), B, N, heads, d)
	v = Reshape(netgraph.Cast(v, adt), B, N, heads, d)
	kv := Einsum("bnhd,bnhe->bhde", k, v)                   // Σ_m k_m v_mᵀ
	kSum := ReduceSum(k, 1)                                 // Σ_m k_m: (B, heads, d)
	num := Einsum("bnhd,bhde->bnhe", q, kv)                 // (B, N, heads, d)
	den := ExpandAxes(Einsum("bnhd,bhd->bnh", q, kSum), -1) // (B, N, heads, 1)
	o := Div(num, AddScalar(den, cfg.LinearAttnEps))
	o = netgraph.Cast(Reshape(o, B, N, D), dt)
	return a.toOut.apply(w, o)
}

// crossAttention is multi-head softmax attention from image tokens x (queries) to caption
// tokens y (keys, values), scale 1/√d, padded tokens biased by −10000, in float32 when the
// model dtype is lower.
func crossAttention(cfg Config, w Weights, a attentionParams, x, y, bias *Node) *Node {
	dt := x.DType()
	q, k, v := a.project(w, x, y, cfg.CrossNormEps) // the table has the QK norm weights when cfg.CrossNorm is set
	adt := netgraph.WideDType(dt)
	B, N, D := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	L := y.Shape().Dimensions[1]
	heads := cfg.CrossHeads
	d := D / heads
	q = Reshape(netgraph.Cast(q, adt), B, N, heads, d)
	k = Reshape(netgraph.Cast(k, adt), B, L, heads, d)
	v = Reshape(netgraph.Cast(v, adt), B, L, heads, d)
	logits := MulScalar(Einsum("bnhd,blhd->bhnl", q, k), 1/math.Sqrt(float64(d)))
	if bias != nil {
		logits = Add(logits, bias)
	}
	o := Einsum("bhnl,blhd->bnhd", softmax(logits), v)
	o = netgraph.Cast(Reshape(o, B, N, D), dt)
	return a.toOut.apply(w, o)
}

// softmax over the last axis, decomposed (max-shifted exp over its sum) so that every op has
// a second-order gradient.
func softmax(logits *Node) *Node {
	m := StopGradient(ReduceAndKeep(logits, ReduceMax, -1))
	e := Exp(Sub(logits, m))
	return Div(e, ReduceAndKeep(e, ReduceSum, -1))
}
