package gemma

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// attentionMasks holds the boolean "query i may attend key j" masks, (B, 1, 1, T, T), for
// full-attention and sliding-window layers, built once per forward.
type attentionMasks struct {
	full, sliding *Node
}

// buildMasks builds the masks of transformers' eager path for a right-padded batch:
//
//	full:    j ≤ i  and  mask[b, j] ≠ 0                    (causal + padding)
//	sliding: full   and  i − j < W                         (W = sliding_window)
//
// Padded queries are not masked: their rows still see the real keys before them. A row with
// no allowed key (only possible when padding runs longer than the window) gets uniform
// weights, as the additive finfo.min mask gives in transformers.
func buildMasks(g *Graph, c Config, mask *Node, B, T int) attentionMasks {
	sh := shapes.Make(dtypes.Int32, T, T)
	i, j := Iota(g, sh, 0), Iota(g, sh, 1) // query and key positions
	causal := LessOrEqual(j, i)
	full := Reshape(causal, 1, 1, 1, T, T)
	if mask != nil {
		keep := NotEqual(mask, ZerosLike(mask)) // (B, T) keys that are tokens
		full = LogicalAnd(full, Reshape(keep, B, 1, 1, 1, T))
	}
	m := attentionMasks{full: full, sliding: full}
	if c.SlidingWindow > 0 {
		inWindow := LessThan(Sub(i, j), Scalar(g, dtypes.Int32, c.SlidingWindow))
		m.sliding = LogicalAnd(full, Reshape(inWindow, 1, 1, 1, T, T))
	}
	return m
}

// forLayer picks the mask of layer i.
func (m attentionMasks) forLayer(c Config, i int) *Node {
	if c.Sliding(i) {
		return m.sliding
	}
	return m.full
}

// attention is Gemma-2's grouped-query self-attention on normed hidden states x (B, T, D):
//
//	q, k, v = x·W_qᵀ, x·W_kᵀ, x·W_vᵀ ; q, k ← RoPE(q), RoPE(k)
//	s = (q·kᵀ)·query_pre_attn_scalar^−½ ; s ← c·tanh(s/c) (soft-cap, unless switched off)
//	s ← s where allowed, else the lowest float ; p = softmax(s) ; out = (p·v)·W_oᵀ
//
// Query head h uses key/value head ⌊h/G⌋ with G = heads/kv_heads (transformers' repeat_kv).
// Logits, soft-cap, mask and softmax run in float32 (float64 for float64 weights).
func attention(c Config, w Weights, pre string, x, cos, sin, allowed *Node, opts Options) *Node {
	dt := x.DType()
	cdt := cos.DType()
	dims := x.Shape().Dimensions
	B, T := dims[0], dims[1]
	H, KV, d := c.NumHeads, c.NumKVHeads, c.HeadDim
	G := H / KV
	q := Reshape(linear(x, w.get(pre+QProj)), B, T, H, d)
	k := Reshape(linear(x, w.get(pre+KProj)), B, T, KV, d)
	v := Reshape(netgraph.Cast(linear(x, w.get(pre+VProj)), cdt), B, T, KV, d)
	q = Reshape(applyRope(q, cos, sin), B, T, KV, G, d)
	k = applyRope(k, cos, sin)

	s := MulScalar(Einsum("btkgd,bskd->bkgts", q, k), c.Scaling()) // (B, KV, G, T, S)
	if sc := c.AttnLogitSoftcapping; sc > 0 && !opts.NoSoftCap {
		s = softCap(s, sc)
	}
	s = Where(allowed, s, Scalar(x.Graph(), cdt, lowest(cdt)))
	p := softmax(s)
	o := Einsum("bkgts,bskd->btkgd", p, v) // (B, T, KV, G, d): head h = kv·G + g
	o = netgraph.Cast(Reshape(o, B, T, H*d), dt)
	return linear(o, w.get(pre+OProj))
}

// softCap bounds logits smoothly to (−c, c): c·tanh(s/c) (transformers divides, tanh,
// multiplies, in that order).
func softCap(s *Node, c float64) *Node { return MulScalar(Tanh(DivScalar(s, c)), c) }

// softmax over the last axis, shifted by the row maximum.
func softmax(logits *Node) *Node {
	m := ReduceAndKeep(logits, ReduceMax, -1)
	e := Exp(Sub(logits, m))
	return Div(e, ReduceAndKeep(e, ReduceSum, -1))
}

// lowest is the most negative finite value of dt (torch.finfo(dtype).min).
func lowest(dt dtypes.DType) float64 {
	if dt == dtypes.Float64 {
		return -math.MaxFloat64
	}
	return -math.MaxFloat32
}
