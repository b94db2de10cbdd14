package gemma

import (
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/gomlx/gomlx/core/tensors"
)

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if d, at := maxAbsDiff(got, want); d > tol {
		t.Errorf("%s: value %d = %.9g, want %.9g (|diff| %.3g > %.3g)\n got  %v\n want %v", what, at, got[at], want[at], d, tol, got, want)
	}
}

// TestRMSNormOnePlusWeight: y = x/√(mean(x²)+ε)·(1+w), on x = (1, 2, 3, 4), mean(x²) = 7.5.
func TestRMSNormOnePlusWeight(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	w := []float64{0, 0.5, -1, 1}
	r := 1 / math.Sqrt(7.5+1e-6)
	want := []float64{1 * r * 1, 2 * r * 1.5, 3 * r * 0, 4 * r * 2} // (0.3651, 1.0954, 0, 2.9212)
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		out := run1(t, func(g *Graph) *Node {
			xs := ConvertDType(Const(g, x), dt)
			return rmsNorm(Reshape(xs, 1, 4), ConvertDType(Const(g, w), dt), 1e-6)
		})
		if out.DType() != dt {
			t.Errorf("%s input gave %s output", dt, out.DType())
		}
		assertClose(t, "rmsNorm "+dt.String(), values64(t, out), want, 1e-6)
	}
}

// TestRotaryTwoDimHead: with head_dim 2 the single frequency is 1/θ⁰ = 1, so position p
// rotates (x₁, x₂) by p radians; with head_dim 4 and θ = 100 the frequencies are 1 and 1/10,
// pairing (x₀, x₂) and (x₁, x₃).
func TestRotaryTwoDimHead(t *testing.T) {
	x := []float64{1, 0, 1, 0, 0, 2} // positions 0, 1, 2 of one head
	want := []float64{1, 0, math.Cos(1), math.Sin(1), -2 * math.Sin(2), 2 * math.Cos(2)}
	out := run1(t, func(g *Graph) *Node {
		cos, sin := ropeNodes(g, dtypes.Float32, 3, 2, 10000)
		return applyRope(ConvertDType(Reshape(Const(g, x), 1, 3, 1, 2), dtypes.Float32), cos, sin)
	})
	assertClose(t, "rope head_dim 2", values64(t, out), want, 1e-6)

	x4 := []float64{1, 2, 3, 4} // position 3, head_dim 4, θ = 100
	a0, a1 := 3.0, 0.3
	want4 := []float64{
		1*math.Cos(a0) - 3*math.Sin(a0), 2*math.Cos(a1) - 4*math.Sin(a1),
		3*math.Cos(a0) + 1*math.Sin(a0), 4*math.Cos(a1) + 2*math.Sin(a1),
	}
	out = run1(t, func(g *Graph) *Node {
		cos, sin := ropeNodes(g, dtypes.Float64, 4, 4, 100)
		xs := Concatenate([]*Node{Zeros(g, shape(dtypes.Float64, 1, 3, 1, 4)), Reshape(Const(g, x4), 1, 1, 1, 4)}, 1)
		return Slice(applyRope(xs, cos, sin), AxisRange(), AxisRange(3, 4))
	})
	assertClose(t, "rope head_dim 4", values64(t, out), want4, 1e-12)

	// The float32 tables follow transformers' float32 steps: angle = f32(p·f32(1/θ^(2i/d))).
	c, s := ropeTables(300, 256, 10000)
	f := float32(1 / float64(float32(math.Pow(10000, float64(float32(2*5)/float32(256))))))
	angle := float64(float32(299) * f)
	if c[299*128+5] != float32(math.Cos(angle)) || s[299*128+5] != float32(math.Sin(angle)) {
		t.Errorf("rope table (299, 5) = (%g, %g), want (%g, %g)", c[299*128+5], s[299*128+5], math.Cos(angle), math.Sin(angle))
	}
}

// TestSoftCapValue: c·tanh(s/c) with c = 50 bounds logits to (−50, 50), nearly the identity
// near 0.
func TestSoftCapValue(t *testing.T) {
	s := []float64{0, 1, 10, 50, 100, -200}
	want := make([]float64, len(s))
	for i, v := range s {
		want[i] = 50 * math.Tanh(v/50)
	}
	// Spot values: 50·tanh(1) = 38.0797, 50·tanh(2) = 48.2014.
	if math.Abs(want[3]-38.07970779778824) > 1e-9 || math.Abs(want[4]-48.20137900379084) > 1e-9 {
		t.Fatalf("test constants off: %v", want)
	}
	out := run1(t, func(g *Graph) *Node { return softCap(Const(g, s), 50) })
	assertClose(t, "softCap", values64(t, out), want, 1e-12)
}

// TestAttentionMasks: causal + padding, and the sliding window i − j < W, on T = 5, W = 2,
// with one row padded after three tokens.
func TestAttentionMasks(t *testing.T) {
	c := tinyConfig()
	c.SlidingWindow = 2
	mask := []float32{1, 1, 1, 0, 0, 1, 1, 1, 1, 1}
	full := run1(t, func(g *Graph) *Node {
		return ConvertDType(buildMasks(g, c, Reshape(Const(g, mask), 2, 5), 2, 5).full, dtypes.Float64)
	})
	sliding := run1(t, func(g *Graph) *Node {
		return ConvertDType(buildMasks(g, c, Reshape(Const(g, mask), 2, 5), 2, 5).sliding, dtypes.Float64)
	})
	if !slices.Equal(full.Shape().Dimensions, []int{2, 1, 1, 5, 5}) {
		t.Fatalf("mask shape %s, want (2, 1, 1, 5, 5)", full.Shape())
	}
	wantFull := []float64{
		// row 0: keys 3, 4 are padding; padded queries 3, 4 still see keys 0..2
		1, 0, 0, 0, 0,
		1, 1, 0, 0, 0,
		1, 1, 1, 0, 0,
		1, 1, 1, 0, 0,
		1, 1, 1, 0, 0,
		// row 1: plain causal
		1, 0, 0, 0, 0,
		1, 1, 0, 0, 0,
		1, 1, 1, 0, 0,
		1, 1, 1, 1, 0,
		1, 1, 1, 1, 1,
	}
	wantSliding := []float64{
		1, 0, 0, 0, 0,
		1, 1, 0, 0, 0,
		0, 1, 1, 0, 0,
		0, 0, 1, 0, 0,
		0, 0, 0, 0, 0, // padded query 4: keys 3, 4 are padding, 0..2 are out of the window
		1, 0, 0, 0, 0,
		1, 1, 0, 0, 0,
		0, 1, 1, 0, 0,
		0, 0, 1, 1, 0,
		0, 0, 0, 1, 1,
	}
	assertClose(t, "full mask", values64(t, full), wantFull, 0)
	assertClose(t, "sliding mask", values64(t, sliding), wantSliding, 0)
	if c.Sliding(0) != true || c.Sliding(1) != false || c.Sliding(2) != true {
		t.Errorf("layer kinds: Sliding(0,1,2) = %v %v %v, want true false true", c.Sliding(0), c.Sliding(1), c.Sliding(2))
	}
}

// attentionNet is a one-layer attention block with D = heads·head_dim and o_proj = I, so the
// output is the concatenated per-head outputs.
type attentionNet struct {
	c          Config
	q, k, v, o []float64
}

func newAttentionNet(heads, kvHeads, hd int, softcap float64, seed uint64) attentionNet {
	c := tinyConfig()
	c.NumHeads, c.NumKVHeads, c.HeadDim = heads, kvHeads, hd
	c.HiddenSize = heads * hd
	c.QueryPreAttnScalar = float64(hd)
	c.AttnLogitSoftcapping = softcap
	vals := randomValues(c, seed, 1.5)
	D := c.HiddenSize
	o := make([]float64, D*D)
	for i := range D {
		o[i*D+i] = 1
	}
	pre := LayerPrefix(0)
	return attentionNet{c: c, q: vals[pre+QProj], k: vals[pre+KProj], v: vals[pre+VProj], o: o}
}

func (n attentionNet) run(t *testing.T, x []float64, mask []float64, T int) []float64 {
	t.Helper()
	c, D := n.c, n.c.HiddenSize
	pre := LayerPrefix(0)
	out := run1(t, func(g *Graph) *Node {
		w := Weights{
			pre + QProj: Reshape(Const(g, n.q), c.NumHeads*c.HeadDim, D),
			pre + KProj: Reshape(Const(g, n.k), c.NumKVHeads*c.HeadDim, D),
			pre + VProj: Reshape(Const(g, n.v), c.NumKVHeads*c.HeadDim, D),
			pre + OProj: Reshape(Const(g, n.o), D, D),
		}
		cos, sin := ropeNodes(g, dtypes.Float64, T, c.HeadDim, c.RopeTheta)
		m := buildMasks(g, c, Reshape(Const(g, mask), 1, T), 1, T)
		return attention(c, w, pre, Reshape(Const(g, x), 1, T, D), cos, sin, m.full, Options{})
	})
	return values64(t, out)
}

// TestAttentionGroupedHeads: with 4 query heads on 2 key/value heads, query heads 0 and 1 read
// key/value head 0 only and heads 2 and 3 read head 1 only (transformers' repeat_kv).
// Changing key/value head 1's weights must leave heads 0–1 bit-identical and change 2–3.
func TestAttentionGroupedHeads(t *testing.T) {
	n := newAttentionNet(4, 2, 2, 0, 3)
	T, D, hd := 3, 8, 2
	x := make([]float64, T*D)
	for i := range x {
		x[i] = math.Sin(float64(i) + 0.5)
	}
	mask := []float64{1, 1, 1}
	base := n.run(t, x, mask, T)
	changed := n
	changed.k, changed.v = slices.Clone(n.k), slices.Clone(n.v)
	for i := hd * D; i < 2*hd*D; i++ { // rows of key/value head 1
		changed.k[i] += 0.7
		changed.v[i] -= 0.9
	}
	after := changed.run(t, x, mask, T)
	for tok := range T {
		for h := range 4 {
			a, b := base[tok*D+h*hd:tok*D+(h+1)*hd], after[tok*D+h*hd:tok*D+(h+1)*hd]
			same := slices.Equal(a, b)
			if h < 2 && !same {
				t.Errorf("token %d head %d changed when only key/value head 1 did: %v → %v", tok, h, a, b)
			}
			if h >= 2 && same {
				t.Errorf("token %d head %d did not change with key/value head 1", tok, h)
			}
		}
	}
}

// TestAttentionSoftCapBeforeMask: the mask is applied to soft-capped logits, so a padded key
// gets exactly zero weight even with a tiny cap (c = 0.5). Capping after the mask would give
// it weight e^(−c−…) > 0. A padded query (position 1) with only key 0 allowed outputs v₀.
func TestAttentionSoftCapBeforeMask(t *testing.T) {
	n := newAttentionNet(1, 1, 2, 0.5, 4)
	T, D := 2, 2
	x := []float64{0.3, -1.1, 5, 7} // token 1 (padding) has a large, distinct value
	out := n.run(t, x, []float64{1, 0}, T)
	// v₀ = W_v·x₀ (rotary does not touch v); o_proj is the identity.
	v0 := []float64{n.v[0]*x[0] + n.v[1]*x[1], n.v[2]*x[0] + n.v[3]*x[1]}
	assertClose(t, "query 0", out[:D], v0, 1e-12)
	assertClose(t, "padded query 1", out[D:], v0, 1e-12)
}

// TestGeGLU: down(gelu_tanh(gate·x) ⊙ up·x) on D = 1, I = 2; gelu_tanh(1) = 0.8411919906
// (the erf form would give 0.8413447461).
func TestGeGLU(t *testing.T) {
	gelu := func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	if math.Abs(gelu(1)-0.8411919906082768) > 1e-12 {
		t.Fatalf("test gelu(1) = %.12g", gelu(1))
	}
	pre := LayerPrefix(0)
	x := 1.0
	want := 2*gelu(1*x)*(0.5*x) + (-1)*gelu(-2*x)*(3*x) // down = (2, −1)
	out := run1(t, func(g *Graph) *Node {
		w := Weights{
			pre + GateProj: Const(g, [][]float64{{1}, {-2}}),
			pre + UpProj:   Const(g, [][]float64{{0.5}, {3}}),
			pre + DownProj: Const(g, [][]float64{{2, -1}}),
		}
		return mlp(w, pre, Const(g, [][][]float64{{{x}}}))
	})
	assertClose(t, "GeGLU", values64(t, out), []float64{want}, 1e-12)
	one := run1(t, func(g *Graph) *Node { return geluTanh(Const(g, []float64{1})) })
	assertClose(t, "gelu_tanh(1)", values64(t, one), []float64{0.8411919906082768}, 1e-12)
}

// TestEmbeddingScale: embeddings are multiplied by √D rounded to the weights' dtype first:
// √4 = 2 exactly; in bfloat16, √6 = 2.449… becomes 2.453125.
func TestEmbeddingScale(t *testing.T) {
	c := tinyConfig()
	c.VocabSize, c.HiddenSize = 3, 4
	table := []float64{0, 0, 0, 0, 1, -2, 0.5, 3, 9, 9, 9, 9}
	out := run1(t, func(g *Graph) *Node {
		w := Weights{EmbedTokens: Reshape(Const(g, table), 3, 4)}
		return embed(c, w, Const(g, [][]int32{{1}}))
	})
	assertClose(t, "embed f64", values64(t, out), []float64{2, -4, 1, 6}, 0)

	c.HiddenSize = 6
	scale := float64(bfloat16.FromFloat64(math.Sqrt(6)).Float32())
	if scale != 2.453125 {
		t.Fatalf("bfloat16(√6) = %g, want 2.453125", scale)
	}
	ones := tensors.FromShape(shape(dtypes.BFloat16, 2, 6))
	tensors.MustMutableFlatData(ones, func(f []bfloat16.BFloat16) {
		for i := range f {
			f[i] = bfloat16.FromFloat32(1)
		}
	})
	out = run1(t, func(g *Graph) *Node {
		return embed(c, Weights{EmbedTokens: ConstTensor(g, ones)}, Const(g, [][]int32{{1}}))
	})
	if out.DType() != dtypes.BFloat16 {
		t.Errorf("bfloat16 table gave %s embeddings", out.DType())
	}
	for i, v := range values64(t, out) {
		if v != scale {
			t.Errorf("bfloat16 embedding %d = %g, want %g", i, v, scale)
		}
	}
}
