package model

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestParamCounts checks the released models' parameter counts from shapes alone (§13).
func TestParamCounts(t *testing.T) {
	cases := []struct {
		preset           string
		teacher, student int64
	}{
		{PresetSana16B, 1_604_641_952, 1_610_237_472},
		{PresetSana06B, 591_876_896, 593_501_216},
	}
	for _, c := range cases {
		cfg, err := PresetConfig(c.preset)
		if err != nil {
			t.Fatal(err)
		}
		exported := func(role Role) int64 {
			var n int64
			for _, s := range ParamSpecs(cfg, role) {
				if IsDiffusersParam(s.Name) {
					n += s.Size()
				}
			}
			return n
		}
		if got := exported(Teacher); got != c.teacher {
			t.Errorf("%s teacher: %d parameters, want %d", c.preset, got, c.teacher)
		}
		if got := exported(Student); got != c.student {
			t.Errorf("%s student: %d parameters, want %d", c.preset, got, c.student)
		}
		groups, total := CountParams(ParamSpecs(cfg, Student))
		D := int64(cfg.HiddenSize)
		if total != c.student+D+1 || groups["logvar"] != D+1 {
			t.Errorf("%s student with logvar head: total %d (logvar %d), want %d", c.preset, total, groups["logvar"], c.student+D+1)
		}
		if groups["guidance_embed"] != c.student-c.teacher {
			t.Errorf("%s guidance embedder: %d, want %d", c.preset, groups["guidance_embed"], c.student-c.teacher)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Preset = PresetTiny
	c.HiddenSize = 30
	c.DType = "float16"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"model.hidden_size: must be divisible by model.self_head_dim", "model.dtype"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	c = DefaultConfig()
	c.Preset = "huge"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "model.preset") {
		t.Errorf("unknown preset: err = %v", err)
	}
	c = DefaultConfig()
	c.Preset = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "model.hidden_size: must be > 0") {
		t.Errorf("no preset, no shapes: err = %v", err)
	}
	for _, p := range Presets() {
		if _, err := PresetConfig(p); err != nil {
			t.Errorf("preset %s: %v", p, err)
		}
	}
	// A non-zero field overrides the preset.
	c = DefaultConfig()
	c.Preset, c.Depth = PresetSana16B, 3
	r, _ := c.Resolved()
	if r.Depth != 3 || r.HiddenSize != 2240 {
		t.Errorf("resolved = depth %d, hidden %d", r.Depth, r.HiddenSize)
	}
}

// forwardOnce runs Forward (teacher when guidance is nil) and returns V, logvar, features.
func forwardOnce(t *testing.T, cfg Config, p Params, x, tt, text, mask, guidance *tensors.Tensor, feats []int) []*tensors.Tensor {
	t.Helper()
	extra := []*tensors.Tensor{x, tt, text, mask}
	if guidance != nil {
		extra = append(extra, guidance)
	}
	return runWith(t, p, func(w Weights, in []*Node) []*Node {
		inputs := Inputs{X: in[0], T: in[1], Text: in[2], Mask: in[3]}
		if len(in) > 4 {
			inputs.Guidance = in[4]
		}
		out := Forward(cfg, w, inputs, feats)
		res := []*Node{out.V, out.TimeEmbedding}
		if out.Logvar != nil {
			res = append(res, out.Logvar)
		}
		return append(res, out.Features...)
	}, extra...)
}

func tinyInputs(cfg Config, B, side int, seed uint64) (x, tt, text, mask *tensors.Tensor) {
	dt := cfg.mustDType()
	x = randn(dt, seed, B, cfg.InChannels, side, side)
	ts := make([]float64, B)
	for i := range ts {
		ts[i] = 0.2 + 0.6*float64(i)/float64(max(B-1, 1))
	}
	tt = fromFloats(dt, ts, B)
	text = randn(dt, seed+1, B, cfg.CaptionLen, cfg.CaptionDim)
	m := make([]float64, B*cfg.CaptionLen)
	for b := range B {
		for l := range cfg.CaptionLen {
			if l < cfg.CaptionLen-b-1 { // sample b has b+1 padded tokens
				m[b*cfg.CaptionLen+l] = 1
			}
		}
	}
	mask = fromFloats(dt, m, B, cfg.CaptionLen)
	return
}

func TestForwardShapes(t *testing.T) {
	for _, patch := range []int{1, 2} {
		cfg := tinyConfig(t, "float32")
		cfg.PatchSize = patch
		B, side := 2, cfg.LatentSize
		for _, role := range []Role{Teacher, Student} {
			p := randomParams(t, cfg, role, 1)
			if err := CheckParams(cfg, role, p); err != nil {
				t.Fatal(err)
			}
			x, tt, text, mask := tinyInputs(cfg, B, side, 3)
			var g *tensors.Tensor
			if role == Student {
				g = fromFloats(dtypes.Float32, []float64{4.5, 3}, B)
			}
			outs := forwardOnce(t, cfg, p, x, tt, text, mask, g, []int{1, 0})
			if want := []int{B, cfg.InChannels, side, side}; !slices.Equal(outs[0].Shape().Dimensions, want) {
				t.Errorf("patch %d %s: V %s, want %v", patch, role, outs[0].Shape(), want)
			}
			if !slices.Equal(outs[1].Shape().Dimensions, []int{B, cfg.HiddenSize}) {
				t.Errorf("time embedding %s", outs[1].Shape())
			}
			feat := outs[2:]
			if role == Student {
				if !slices.Equal(outs[2].Shape().Dimensions, []int{B}) {
					t.Errorf("logvar %s, want [%d]", outs[2].Shape(), B)
				}
				feat = outs[3:]
			}
			N := (side / patch) * (side / patch)
			if len(feat) != 2 || !slices.Equal(feat[0].Shape().Dimensions, []int{B, N, cfg.HiddenSize}) {
				t.Errorf("features: %d, first %v", len(feat), feat[0].Shape())
			}
			if maxAbs(floats(t, outs[0])) == 0 {
				t.Error("velocity is identically zero with random weights")
			}
		}
	}
}

// TestPaddedTokensChangeNothing: with the text mask, the embeddings at padded positions
// must not influence the output; a real token must.
func TestPaddedTokensChangeNothing(t *testing.T) {
	cfg := tinyConfig(t, "float32")
	p := randomParams(t, cfg, Teacher, 2)
	B := 2
	x, tt, text, mask := tinyInputs(cfg, B, cfg.LatentSize, 5)
	base := floats(t, forwardOnce(t, cfg, p, x, tt, text, mask, nil, nil)[0])

	L, Dc := cfg.CaptionLen, cfg.CaptionDim
	perturb := func(pos func(b, l int) bool) *tensors.Tensor {
		vals := floats(t, text)
		for b := range B {
			for l := range L {
				if pos(b, l) {
					for c := range Dc {
						vals[(b*L+l)*Dc+c] += 3
					}
				}
			}
		}
		return fromFloats(dtypes.Float32, vals, B, L, Dc)
	}
	maskVals := floats(t, mask)
	padded := perturb(func(b, l int) bool { return maskVals[b*L+l] == 0 })
	got := floats(t, forwardOnce(t, cfg, p, x, tt, padded, mask, nil, nil)[0])
	if d := maxAbsDiff(base, got); d > 1e-6 {
		t.Errorf("changing padded tokens moved the output by %g", d)
	}
	real := perturb(func(b, l int) bool { return l == 0 })
	got = floats(t, forwardOnce(t, cfg, p, x, tt, real, mask, nil, nil)[0])
	if d := maxAbsDiff(base, got); d < 1e-4 {
		t.Errorf("changing a real token moved the output by only %g", d)
	}
}

// TestQKNormSwitch: the norms' keys come and go with the flags, and the output depends on them.
func TestQKNormSwitch(t *testing.T) {
	on := tinyConfig(t, "float32")
	off := on
	off.QKNorm, off.CrossNorm = false, false
	hasNorm := func(cfg Config, sub string) bool {
		for _, s := range ParamSpecs(cfg, Teacher) {
			if strings.Contains(s.Name, sub) {
				return true
			}
		}
		return false
	}
	if !hasNorm(on, "attn1.norm_q.weight") || !hasNorm(on, "attn2.norm_k.weight") {
		t.Error("qk_norm on: norm keys missing")
	}
	if hasNorm(off, ".norm_q.") || hasNorm(off, ".norm_k.") {
		t.Error("qk_norm off: norm keys present")
	}
	selfOnly := on
	selfOnly.CrossNorm = false
	if !hasNorm(selfOnly, "attn1.norm_q") || hasNorm(selfOnly, "attn2.norm_q") {
		t.Error("cross_norm off: wrong keys")
	}

	pOn := randomParams(t, on, Teacher, 4)
	pOff := Params{}
	for _, s := range ParamSpecs(off, Teacher) {
		pOff[s.Name] = pOn[s.Name]
	}
	if err := CheckParams(off, Teacher, pOn); err == nil || !strings.Contains(err.Error(), "unexpected") {
		t.Errorf("loading qk-norm weights into a model without it: err = %v", err)
	}
	x, tt, text, mask := tinyInputs(on, 2, on.LatentSize, 6)
	vOn := floats(t, forwardOnce(t, on, pOn, x, tt, text, mask, nil, nil)[0])
	vOff := floats(t, forwardOnce(t, off, pOff, x, tt, text, mask, nil, nil)[0])
	if d := maxAbsDiff(vOn, vOff); d < 1e-4 {
		t.Errorf("QK norm on/off changed the output by only %g", d)
	}
}

// TestStudentEqualsTeacherAtInit: the student built from the teacher gives the teacher's F for
// any guidance value (its guidance embedder's last layer is zero).
func TestStudentEqualsTeacherAtInit(t *testing.T) {
	cfg := tinyConfig(t, "float32")
	teacher := randomParams(t, cfg, Teacher, 9)
	student, err := StudentFromTeacher(cfg, teacher, 10)
	if err != nil {
		t.Fatal(err)
	}
	B := 3
	x, _, text, mask := tinyInputs(cfg, B, cfg.LatentSize, 12)
	theta := fromFloats(dtypes.Float32, []float64{0.3, 0.9, 1.5}, B)
	trig := func(p Params, guidance *tensors.Tensor) []*tensors.Tensor {
		extra := []*tensors.Tensor{x, theta, text, mask}
		if guidance != nil {
			extra = append(extra, guidance)
		}
		return runWith(t, p, func(w Weights, in []*Node) []*Node {
			var g *Node
			if len(in) > 4 {
				g = in[4]
			}
			F, logvar, _ := TrigFlow(cfg, w, in[0], in[1], in[2], in[3], g, nil)
			if logvar != nil {
				return []*Node{F, logvar}
			}
			return []*Node{F}
		}, extra...)
	}
	want := floats(t, trig(teacher, nil)[0])
	for _, gv := range []float64{0, 4.5, 12} {
		outs := trig(student, fromFloats(dtypes.Float32, []float64{gv, gv, gv}, B))
		if d := maxAbsDiff(want, floats(t, outs[0])); d > 1e-6 {
			t.Errorf("guidance %g: student F differs from teacher F by %g", gv, d)
		}
		if len(outs) != 2 || outs[1].Shape().Dimensions[0] != B {
			t.Errorf("guidance %g: no (B) logvar", gv)
		}
	}
	// The guidance embedder is live: after perturbing its last layer the output moves with w.
	moved := Params{}
	for k, v := range student {
		moved[k] = v
	}
	moved[guidanceEmbedderPrefix+"linear_2.weight"] = randn(dtypes.Float32, 3, cfg.HiddenSize, cfg.HiddenSize)
	a := floats(t, trig(moved, fromFloats(dtypes.Float32, []float64{1, 1, 1}, B))[0])
	b := floats(t, trig(moved, fromFloats(dtypes.Float32, []float64{6, 6, 6}, B))[0])
	if maxAbsDiff(a, b) < 1e-5 {
		t.Error("guidance value has no effect once the embedder is trained")
	}
}

func TestInitParams(t *testing.T) {
	cfg := tinyConfig(t, "float32")
	p1, err := InitParams(cfg, Student, 1)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := InitParams(cfg, Student, 1)
	p3, _ := InitParams(cfg, Student, 2)
	if err := CheckParams(cfg, Student, p1); err != nil {
		t.Fatal(err)
	}
	name := "transformer_blocks.1.attn1.to_q.weight"
	if !p1[name].Equal(p2[name]) || p1[name].Equal(p3[name]) {
		t.Error("init is not a deterministic function of the seed")
	}
	zero := []string{guidanceEmbedderPrefix + "linear_2.weight", guidanceEmbedderPrefix + "linear_2.bias", "proj_out.weight", LogvarBias}
	for _, n := range zero {
		if maxAbs(floats(t, p1[n])) != 0 {
			t.Errorf("%s should start at zero", n)
		}
	}
	for _, n := range []string{guidanceEmbedderPrefix + "linear_1.weight", LogvarWeight, "transformer_blocks.0.ff.conv_depth.weight"} {
		if maxAbs(floats(t, p1[n])) == 0 {
			t.Errorf("%s should be random", n)
		}
	}
	// The caption norm weight starts at model.caption_norm_init: 0.01 by default, as set.
	for _, want := range []float64{0.01, 1} {
		c := cfg
		c.CaptionNormInit = want
		p, err := InitParams(c, Teacher, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range floats(t, p[captionNormPrefix+"weight"]) {
			if math.Abs(v-want) > 1e-7 {
				t.Fatalf("caption_norm.weight %v with caption_norm_init %v", v, want)
			}
		}
	}
	bad := cfg
	bad.CaptionNormInit = 0
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "model.caption_norm_init") {
		t.Errorf("caption_norm_init 0: %v, want an error naming model.caption_norm_init", err)
	}
}

// TestBFloat16Forward: a bfloat16 model runs (attention and norms in float32) and stays close to
// the float32 model with the same (bf16-representable) weights.
func TestBFloat16Forward(t *testing.T) {
	cfg32 := tinyConfig(t, "float32")
	cfg16 := tinyConfig(t, "bfloat16")
	p16 := randomParams(t, cfg16, Student, 41)
	p32 := Params{}
	for k, v := range p16 {
		p32[k] = fromFloats(dtypes.Float32, floats(t, v), v.Shape().Dimensions...)
	}
	x, tt, text, mask := tinyInputs(cfg32, 2, cfg32.LatentSize, 42)
	g := fromFloats(dtypes.Float32, []float64{4.5, 2}, 2)
	v32 := floats(t, forwardOnce(t, cfg32, p32, x, tt, text, mask, g, nil)[0])
	out16 := forwardOnce(t, cfg16, p16, x, tt, text, mask, g, nil)[0]
	if out16.DType() != dtypes.BFloat16 {
		t.Fatalf("bf16 model output dtype %s", out16.DType())
	}
	v16 := floats(t, out16)
	var num, den float64
	for i := range v32 {
		num += (v32[i] - v16[i]) * (v32[i] - v16[i])
		den += v32[i] * v32[i]
	}
	rel := math.Sqrt(num / den)
	t.Logf("bf16 vs float32: RMS relative difference %.3g, max %.3g", rel, maxAbsDiff(v32, v16)/maxAbs(v32))
	if rel > 0.02 {
		t.Errorf("bf16 forward differs from float32 by %g (RMS, relative)", rel)
	}
}

// TestReleasedKeyShapes checks ParamSpecs against the key/shape table of the reference notes (§8).
func TestReleasedKeyShapes(t *testing.T) {
	want := map[string]map[string][]int{
		PresetSana16B: {
			"transformer_blocks.3.scale_shift_table":       {6, 2240},
			"transformer_blocks.3.attn1.to_q.weight":       {2240, 2240},
			"transformer_blocks.3.attn1.norm_q.weight":     {2240},
			"transformer_blocks.3.attn2.to_k.bias":         {2240},
			"transformer_blocks.3.attn2.norm_k.weight":     {2240},
			"transformer_blocks.3.ff.conv_inverted.weight": {11200, 2240, 1, 1},
			"transformer_blocks.3.ff.conv_depth.weight":    {11200, 1, 3, 3},
			"transformer_blocks.19.ff.conv_point.weight":   {2240, 5600, 1, 1},
			"patch_embed.proj.weight":                      {2240, 32, 1, 1},
			"caption_projection.linear_1.weight":           {2240, 2304},
			"caption_norm.weight":                          {2240},
			"time_embed.linear.weight":                     {13440, 2240},
			"scale_shift_table":                            {2, 2240},
			"proj_out.weight":                              {32, 2240},
		},
		PresetSana06B: {
			"transformer_blocks.27.ff.conv_inverted.weight":    {5760, 1152, 1, 1},
			"transformer_blocks.0.ff.conv_point.weight":        {1152, 2880, 1, 1},
			"time_embed.emb.timestep_embedder.linear_1.weight": {1152, 256},
		},
	}
	for preset, keys := range want {
		cfg, err := PresetConfig(preset)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]int{}
		for _, s := range ParamSpecs(cfg, Teacher) {
			got[s.Name] = s.Dims
		}
		for k, dims := range keys {
			if !slices.Equal(got[k], dims) {
				t.Errorf("%s %s: %v, want %v", preset, k, got[k], dims)
			}
		}
		if _, ok := got["transformer_blocks.3.attn1.to_q.bias"]; ok {
			t.Errorf("%s: linear self-attention must have no q bias", preset)
		}
	}
}

// TestDemoForwardShape runs the demo preset (the CPU demo's size) once.
func TestDemoForwardShape(t *testing.T) {
	cfg, err := PresetConfig(PresetDemo)
	if err != nil {
		t.Fatal(err)
	}
	p := randomParams(t, cfg, Student, 5)
	x, tt, text, mask := tinyInputs(cfg, 1, cfg.LatentSize, 6)
	outs := forwardOnce(t, cfg, p, x, tt, text, mask, fromFloats(dtypes.Float32, []float64{4.5}, 1), []int{3})
	if got := outs[0].Shape().Dimensions; !slices.Equal(got, []int{1, 12, 16, 16}) {
		t.Errorf("demo V shape %v, want [1 12 16 16]", got)
	}
	if got := outs[3].Shape().Dimensions; !slices.Equal(got, []int{1, 64, cfg.HiddenSize}) {
		t.Errorf("demo feature shape %v", got)
	}
}
