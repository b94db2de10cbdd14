package model

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestControlParamSpecsMatchDiffusers lists, independently of the parameter table, the state
// dict of diffusers' SanaControlNetModel for its default config (in_channels 32, 70 heads × 32,
// num_layers 7, 20 cross heads × 112, caption_channels 2304, mlp_ratio 2.5, patch 1,
// attention_bias false, no positional embedding): PatchEmbed's conv, AdaLayerNormSingle (its
// timestep MLP under emb.timestep_embedder and the 6D linear), PixArtAlphaTextProjection, the
// caption RMSNorm, seven SanaTransformerBlocks (q/k/v without bias in the linear attention,
// with bias in the cross-attention, GLUMBConv with a bias-free point conv), the seven
// controlnet_blocks and input_block. ControlParamSpecs must give exactly these names and shapes.
func TestControlParamSpecsMatchDiffusers(t *testing.T) {
	cfg, err := PresetConfig(PresetSana16B)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QKNorm, cfg.CrossNorm = false, false // SanaControlNetModel has no qk_norm
	const D, C, Dc, Hd, N = 2240, 32, 2304, 5600, 7
	want := map[string][]int{
		"patch_embed.proj.weight":                          {D, C, 1, 1},
		"patch_embed.proj.bias":                            {D},
		"time_embed.emb.timestep_embedder.linear_1.weight": {D, 256},
		"time_embed.emb.timestep_embedder.linear_1.bias":   {D},
		"time_embed.emb.timestep_embedder.linear_2.weight": {D, D},
		"time_embed.emb.timestep_embedder.linear_2.bias":   {D},
		"time_embed.linear.weight":                         {6 * D, D},
		"time_embed.linear.bias":                           {6 * D},
		"caption_projection.linear_1.weight":               {D, Dc},
		"caption_projection.linear_1.bias":                 {D},
		"caption_projection.linear_2.weight":               {D, D},
		"caption_projection.linear_2.bias":                 {D},
		"caption_norm.weight":                              {D},
		"input_block.weight":                               {D, D},
		"input_block.bias":                                 {D},
	}
	for i := range N {
		b := fmt.Sprintf("transformer_blocks.%d.", i)
		want[b+"scale_shift_table"] = []int{6, D}
		for _, m := range []string{"to_q", "to_k", "to_v"} {
			want[b+"attn1."+m+".weight"] = []int{D, D}
			want[b+"attn2."+m+".weight"] = []int{D, D}
			want[b+"attn2."+m+".bias"] = []int{D}
		}
		for _, a := range []string{"attn1", "attn2"} {
			want[b+a+".to_out.0.weight"] = []int{D, D}
			want[b+a+".to_out.0.bias"] = []int{D}
		}
		want[b+"ff.conv_inverted.weight"] = []int{2 * Hd, D, 1, 1}
		want[b+"ff.conv_inverted.bias"] = []int{2 * Hd}
		want[b+"ff.conv_depth.weight"] = []int{2 * Hd, 1, 3, 3}
		want[b+"ff.conv_depth.bias"] = []int{2 * Hd}
		want[b+"ff.conv_point.weight"] = []int{D, Hd, 1, 1}
		want[fmt.Sprintf("controlnet_blocks.%d.weight", i)] = []int{D, D}
		want[fmt.Sprintf("controlnet_blocks.%d.bias", i)] = []int{D}
	}
	specs := ControlParamSpecs(cfg, DefaultControlLayers)
	got := map[string][]int{}
	var total, wantTotal int64
	for _, s := range specs {
		if _, dup := got[s.Name]; dup {
			t.Errorf("%s declared twice", s.Name)
		}
		got[s.Name] = s.Dims
		total += s.Size()
	}
	for name, dims := range want {
		n := int64(1)
		for _, d := range dims {
			n *= int64(d)
		}
		wantTotal += n
		if g, ok := got[name]; !ok {
			t.Errorf("missing %s %v", name, dims)
		} else if !slices.Equal(g, dims) {
			t.Errorf("%s: %v, want %v", name, g, dims)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected %s", name)
		}
	}
	if len(specs) != len(want) || total != wantTotal {
		t.Errorf("%d tensors, %d values; want %d, %d", len(specs), total, len(want), wantTotal)
	}
	t.Logf("SanaControlNetModel default config: %d tensors, %d parameters", len(specs), total)

	// QK norm adds exactly SanaTransformer2DModel's norm weights to each copied block.
	qk := cfg
	qk.QKNorm, qk.CrossNorm = true, true
	if d := len(ControlParamSpecs(qk, N)) - len(specs); d != 4*N {
		t.Errorf("QK norm adds %d tensors, want %d", d, 4*N)
	}
}

// controlConfig is the tiny config with depth 3, so that a ControlNet of two blocks fits.
func controlConfig(t testing.TB, dtype string) Config {
	c := tinyConfig(t, dtype)
	c.Depth = 3
	return c
}

// randomControlParams draws every ControlNet parameter at random (like randomParams), so that
// no path is switched off by a zero projection.
func randomControlParams(t testing.TB, cfg Config, layers int, seed uint64) Params {
	t.Helper()
	return randomSpecs(t, cfg.mustDType(), ControlParamSpecs(cfg, layers), seed, 9, func(s ParamSpec) (std, mean float64) {
		if len(s.Dims) >= 2 && s.Dims[0] != 6 {
			return 1 / math.Sqrt(float64(int(s.Size())/s.Dims[0])), 0
		}
		return 0.3, 0
	})
}

// trigflowBoth runs the wrapper without and with the ControlNet (layers, scale) on the same
// inputs and returns (F, features 0..depth−1) of each, the features as (B, N, D) values.
func trigflowBoth(t *testing.T, cfg Config, role Role, net, ctrl Params, layers int, scale float64, xhat, theta, text, mask, cond, guid *tensors.Tensor) (plain, withCtrl [][]float64) {
	t.Helper()
	blocks := make([]int, cfg.Depth)
	for i := range blocks {
		blocks[i] = i
	}
	run := func(useCtrl bool) [][]float64 {
		extra := []*tensors.Tensor{xhat, theta, text, mask, cond}
		if role == Student {
			extra = append(extra, guid)
		}
		outs := runWith(t, JoinControl(net, ctrl), func(w Weights, in []*Node) []*Node {
			nw, cw := SplitControlWeights(w)
			var c *Control
			if useCtrl {
				c = &Control{Layers: layers, Weights: cw, Cond: in[4], Scale: scale}
			}
			var g *Node
			if role == Student {
				g = in[5]
			}
			F, _, feats := TrigFlowControl(cfg, nw, c, in[0], in[1], in[2], in[3], g, blocks)
			return append([]*Node{F}, feats...)
		}, extra...)
		vals := make([][]float64, len(outs))
		for i, o := range outs {
			vals[i] = floats(t, o)
		}
		return vals
	}
	return run(false), run(true)
}

func bitwiseEqual(a, b []float64) bool {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestFreshControlNetLeavesOutputBitwiseUnchanged: a ControlNet initialised from the network
// (copied embeddings and blocks, zero input_block and controlnet_blocks) adds residuals that
// are exactly zero, so the teacher's and the student's F and every block output are bitwise
// those without ControlNet, whatever the control latent. Conditioning scale 0 does the same for
// a trained (random) ControlNet; a random ControlNet at scale 1 does change the output.
func TestFreshControlNetLeavesOutputBitwiseUnchanged(t *testing.T) {
	cfg := controlConfig(t, "float32")
	B, side, layers := 2, cfg.LatentSize, 2
	dt := dtypes.Float32
	xhat := randn(dt, 31, B, cfg.InChannels, side, side)
	theta := fromFloats(dt, []float64{0.3, 1.4}, B)
	cond := randn(dt, 32, B, cfg.InChannels, side, side)
	_, _, text, mask := tinyInputs(cfg, B, side, 33)
	guid := fromFloats(dt, []float64{4.5, 2}, B)
	for _, role := range []Role{Teacher, Student} {
		net := randomParams(t, cfg, role, 34)
		fresh, err := ControlNetFromTeacher(cfg, layers, net)
		if err != nil {
			t.Fatal(err)
		}
		// The copies are the network's own tensors.
		for _, name := range []string{"transformer_blocks.1.ff.conv_depth.weight", "caption_norm.weight", "patch_embed.proj.bias"} {
			if !bitwiseEqual(floats(t, fresh[name]), floats(t, net[name])) {
				t.Errorf("%s: ControlNet %s is not the network's", role, name)
			}
		}
		te := timeEmbedderPrefix(role) + "linear_2.weight"
		if !bitwiseEqual(floats(t, fresh[timeEmbedderPrefix(Teacher)+"linear_2.weight"]), floats(t, net[te])) {
			t.Errorf("%s: the ControlNet's time embedder is not the network's %s", role, te)
		}
		plain, ctrl := trigflowBoth(t, cfg, role, net, fresh, layers, 1, xhat, theta, text, mask, cond, guid)
		for i := range plain {
			if !bitwiseEqual(plain[i], ctrl[i]) {
				t.Errorf("%s: output %d changed by a fresh ControlNet (max |Δ| %g)", role, i, maxAbsDiff(plain[i], ctrl[i]))
			}
		}
		trained := randomControlParams(t, cfg, layers, 35)
		plain, ctrl = trigflowBoth(t, cfg, role, net, trained, layers, 0, xhat, theta, text, mask, cond, guid)
		if !bitwiseEqual(plain[0], ctrl[0]) {
			t.Errorf("%s: conditioning scale 0 changed F", role)
		}
		plain, ctrl = trigflowBoth(t, cfg, role, net, trained, layers, 1, xhat, theta, text, mask, cond, guid)
		if d := maxAbsDiff(plain[0], ctrl[0]); d < 1e-3 {
			t.Errorf("%s: a random ControlNet changes F by only %g", role, d)
		}
	}
}

// TestControlResidualPlacement checks the wiring against diffusers' forward in float64: with
// the ControlNet copied from the network, input_block zero and random controlnet_blocks, copy 0
// computes exactly the network's block 0, so its residual is r_0 = s·(W_0·h_0 + b_0) with h_0
// the network's block-0 output. Block 0's output must be unchanged, block 1's must gain
// exactly r_0 (its input is unchanged), and block 2's must differ.
func TestControlResidualPlacement(t *testing.T) {
	cfg := controlConfig(t, "float64")
	B, side, layers, scale := 2, cfg.LatentSize, 2, 0.7
	dt := dtypes.Float64
	xhat := randn(dt, 41, B, cfg.InChannels, side, side)
	theta := fromFloats(dt, []float64{0.5, 1.1}, B)
	cond := randn(dt, 42, B, cfg.InChannels, side, side)
	_, _, text, mask := tinyInputs(cfg, B, side, 43)
	net := randomParams(t, cfg, Teacher, 44)
	ctrl, err := ControlNetFromTeacher(cfg, layers, net)
	if err != nil {
		t.Fatal(err)
	}
	random := randomControlParams(t, cfg, layers, 45)
	for _, name := range []string{"controlnet_blocks.0.weight", "controlnet_blocks.0.bias", "controlnet_blocks.1.weight", "controlnet_blocks.1.bias"} {
		ctrl[name] = random[name]
	}
	plain, with := trigflowBoth(t, cfg, Teacher, net, ctrl, layers, scale, xhat, theta, text, mask, cond, nil)
	h0, h1p, h1c := plain[1], plain[2], with[2]
	if !bitwiseEqual(h0, with[1]) {
		t.Errorf("block 0's output changed (max |Δ| %g): no residual may enter before block 1", maxAbsDiff(h0, with[1]))
	}
	D := cfg.HiddenSize
	W, bias := floats(t, ctrl["controlnet_blocks.0.weight"]), floats(t, ctrl["controlnet_blocks.0.bias"])
	worst := 0.0
	for row := 0; row < len(h0)/D; row++ {
		for o := range D {
			r := bias[o]
			for i := range D {
				r += W[o*D+i] * h0[row*D+i]
			}
			got := h1c[row*D+o] - h1p[row*D+o]
			worst = math.Max(worst, math.Abs(got-scale*r))
		}
	}
	if worst > 1e-12 {
		t.Errorf("block 1 gains a residual off s·(W_0 h_0 + b_0) by %g", worst)
	}
	if maxAbsDiff(plain[3], with[3]) < 1e-6 {
		t.Error("block 2's output does not see the residuals")
	}
}

// TestControlJVPMatchesFiniteDifferences: the JVP of the student wrapper with a ControlNet
// (every ControlNet weight random, so every path is live) along (x̂, θ), with the control
// latent, text and guidance held fixed, agrees with central differences in float64.
func TestControlJVPMatchesFiniteDifferences(t *testing.T) {
	cfg := controlConfig(t, "float64")
	B, side, layers := 2, 4, 2
	cfg.LatentSize = side
	dt := dtypes.Float64
	net := randomParams(t, cfg, Student, 51)
	ctrl := randomControlParams(t, cfg, layers, 52)
	p := JoinControl(net, ctrl)
	xhat := randn(dt, 53, B, cfg.InChannels, side, side)
	theta := fromFloats(dt, []float64{0.4, 1.2}, B)
	vx := randn(dt, 54, B, cfg.InChannels, side, side)
	vth := fromFloats(dt, []float64{0.7, -0.3}, B)
	cond := randn(dt, 55, B, cfg.InChannels, side, side)
	_, _, text, mask := tinyInputs(cfg, B, side, 56)
	guid := fromFloats(dt, []float64{4.5, 2}, B)

	fwd := func(w Weights, x, th, text, mask, g, cond *Node) *Node {
		nw, cw := SplitControlWeights(w)
		F, _, _ := TrigFlowControl(cfg, nw, &Control{Layers: layers, Weights: cw, Cond: cond, Scale: 0.8}, x, th, text, mask, g, nil)
		return F
	}
	outs := runWith(t, p, func(w Weights, in []*Node) []*Node {
		x, th, vx, vth, text, mask, g, cond := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
		F := fwd(w, x, th, text, mask, g, cond)
		u := ZerosLike(F)
		grads := Gradient(ReduceAllSum(Mul(u, F)), x, th)
		dot := Add(ReduceAllSum(Mul(grads[0], vx)), ReduceAllSum(Mul(grads[1], vth)))
		return []*Node{F, Gradient(dot, u)[0]}
	}, xhat, theta, vx, vth, text, mask, guid, cond)
	// The random ControlNet makes F strongly curved: the central-difference error falls from 3e-3
	// at h = 1e-4 to 9e-8 at 1e-5 and 7e-10 at 1e-6 (round-off stays below 1e-9 there).
	checkJVP(t, "JVP with control", floats(t, outs[1]), p, 1e-6, func(w Weights, x, th *Node, rest []*Node) *Node {
		return fwd(w, x, th, rest[0], rest[1], rest[2], rest[3])
	}, xhat, theta, vx, vth, text, mask, guid, cond)
}

// TestForwardReadsExactlyTheControlTable: with weights holding exactly ControlParamSpecs, the
// forward with a ControlNet reads nothing outside the table (it would panic) and every
// ControlNet parameter reaches the velocity.
func TestForwardReadsExactlyTheControlTable(t *testing.T) {
	for _, qk := range []bool{false, true} {
		cfg := controlConfig(t, "float32")
		cfg.QKNorm, cfg.CrossNorm = qk, qk
		layers := 2
		g := NewGraph(testBackend(t), "reads")
		input := func(name string, dims ...int) *Node {
			return Parameter(g, name, shapes.Make(dtypes.Float32, dims...))
		}
		w := Weights{}
		for _, s := range ParamSpecs(cfg, Teacher) {
			w[s.Name] = input(s.Name, s.Dims...)
		}
		cw := Weights{}
		nameOf := map[*Node]string{}
		for _, s := range ControlParamSpecs(cfg, layers) {
			n := input(ControlNetPrefix+s.Name, s.Dims...)
			cw[s.Name], nameOf[n] = n, s.Name
		}
		B, side := 2, cfg.LatentSize
		out := Forward(cfg, w, Inputs{
			X: input("x", B, cfg.InChannels, side, side), T: input("t", B),
			Text: input("text", B, cfg.CaptionLen, cfg.CaptionDim), Mask: input("mask", B, cfg.CaptionLen),
			Control: &Control{Layers: layers, Weights: cw, Cond: input("cond", B, cfg.InChannels, side, side), Scale: 1},
		}, nil)
		read := namesReached(nameOf, out.V)
		if len(read) != len(cw) {
			var unread []string
			for name := range cw {
				if !read[name] {
					unread = append(unread, name)
				}
			}
			t.Errorf("qk=%v: ControlNet parameters the forward does not use: %v", qk, unread)
		}
		g.Finalize()
	}
}

// TestControlNetFromTeacherErrors: a source without the copied tensors and a ControlNet as deep
// as the network are refused with the key named.
func TestControlNetFromTeacherErrors(t *testing.T) {
	cfg := controlConfig(t, "float32")
	net := randomParams(t, cfg, Teacher, 61)
	delete(net, "transformer_blocks.1.attn1.to_q.weight")
	if _, err := ControlNetFromTeacher(cfg, 2, net); err == nil || !strings.Contains(err.Error(), "transformer_blocks.1.attn1.to_q.weight") {
		t.Errorf("missing source tensor: err = %v", err)
	}
	if _, err := ControlNetFromTeacher(cfg, 3, randomParams(t, cfg, Teacher, 62)); err == nil || !strings.Contains(err.Error(), "control.num_layers") {
		t.Errorf("N = depth: err = %v", err)
	}
	p := randomControlParams(t, cfg, 2, 63)
	p["input_block.weight"] = fromFloats(dtypes.Float32, make([]float64, 4), 2, 2)
	if err := CheckControlParams(cfg, 2, p); err == nil || !strings.Contains(err.Error(), "input_block.weight: have [2 2]") {
		t.Errorf("mis-shaped: err = %v", err)
	}
}
