package gemma

import (
	"slices"
	"testing"
)

func TestParamSpecsNamesAndShapes(t *testing.T) {
	c := tinyConfig() // D 8, I 12, 4 heads of 4, 2 kv heads, vocab 40, 3 layers
	specs := ParamSpecs(c)
	if len(specs) != 1+3*11+1 {
		t.Fatalf("%d specs, want 35", len(specs))
	}
	want := map[string][]int{
		"model.embed_tokens.weight":                        {40, 8},
		"model.layers.0.input_layernorm.weight":            {8},
		"model.layers.0.self_attn.q_proj.weight":           {16, 8},
		"model.layers.0.self_attn.k_proj.weight":           {8, 8},
		"model.layers.0.self_attn.v_proj.weight":           {8, 8},
		"model.layers.0.self_attn.o_proj.weight":           {8, 16},
		"model.layers.1.post_attention_layernorm.weight":   {8},
		"model.layers.1.pre_feedforward_layernorm.weight":  {8},
		"model.layers.2.mlp.gate_proj.weight":              {12, 8},
		"model.layers.2.mlp.up_proj.weight":                {12, 8},
		"model.layers.2.mlp.down_proj.weight":              {8, 12},
		"model.layers.2.post_feedforward_layernorm.weight": {8},
		"model.norm.weight":                                {8},
	}
	got := make(map[string][]int)
	for _, s := range specs {
		if _, dup := got[s.Name]; dup {
			t.Errorf("duplicate %s", s.Name)
		}
		got[s.Name] = s.Dims
	}
	for name, dims := range want {
		if !slices.Equal(got[name], dims) {
			t.Errorf("%s: %v, want %v", name, got[name], dims)
		}
	}
	if specs[0].Name != EmbedTokens || specs[len(specs)-1].Name != FinalNorm {
		t.Errorf("order: first %s, last %s", specs[0].Name, specs[len(specs)-1].Name)
	}
	if _, ok := got[LMHead]; ok {
		t.Error("lm_head.weight listed; the encoder does not use it")
	}
}

// TestParamCountGemma2_2B: the 2B model has 2,614,341,888 parameters (lm_head tied, not counted):
//
//	embedding      256000·2304                                   =   589,824,000
//	attention/layer q 2048·2304 + k 1024·2304 + v 1024·2304 + o 2304·2048
//	               = 4,718,592 + 2,359,296 + 2,359,296 + 4,718,592 =    14,155,776
//	MLP/layer      3 · 9216·2304 = 3 · 21,233,664                =    63,700,992
//	norms/layer    4 · 2304                                      =         9,216
//	per layer      14,155,776 + 63,700,992 + 9,216               =    77,865,984
//	26 layers      26 · 77,865,984                               = 2,024,515,584
//	final norm                                                   =         2,304
//	total          589,824,000 + 2,024,515,584 + 2,304           = 2,614,341,888
func TestParamCountGemma2_2B(t *testing.T) {
	per, total := CountParams(ParamSpecs(Gemma2_2B()))
	if total != 2_614_341_888 {
		t.Errorf("total %d, want 2,614,341,888", total)
	}
	want := map[string]int64{
		PartEmbedding: 589_824_000,
		PartAttention: 26 * 14_155_776,
		PartMLP:       26 * 63_700_992,
		PartNorms:     26*9_216 + 2_304,
	}
	for part, n := range want {
		if per[part] != n {
			t.Errorf("%s: %d, want %d", part, per[part], n)
		}
	}
	if len(per) != len(ParamParts()) {
		t.Errorf("parts %v, want %v", per, ParamParts())
	}
}
