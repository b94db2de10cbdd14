package gemma

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// gemma22bITConfig is google/gemma-2-2b-it's config.json (the values SANA's text encoder uses).
const gemma22bITConfig = `{
  "architectures": ["Gemma2ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "attn_logit_softcapping": 50.0,
  "bos_token_id": 2,
  "cache_implementation": "hybrid",
  "eos_token_id": [1, 107],
  "final_logit_softcapping": 30.0,
  "head_dim": 256,
  "hidden_act": "gelu_pytorch_tanh",
  "hidden_activation": "gelu_pytorch_tanh",
  "hidden_size": 2304,
  "initializer_range": 0.02,
  "intermediate_size": 9216,
  "max_position_embeddings": 8192,
  "model_type": "gemma2",
  "num_attention_heads": 8,
  "num_hidden_layers": 26,
  "num_key_value_heads": 4,
  "pad_token_id": 0,
  "query_pre_attn_scalar": 256,
  "rms_norm_eps": 1e-06,
  "rope_theta": 10000.0,
  "sliding_window": 4096,
  "torch_dtype": "float32",
  "transformers_version": "4.42.4",
  "use_cache": true,
  "vocab_size": 256000
}`

func TestParseConfigGemma2_2B(t *testing.T) {
	c, err := ParseConfig([]byte(gemma22bITConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := Gemma2_2B()
	if c.VocabSize != 256000 || c.HiddenSize != 2304 || c.IntermediateSize != 9216 || c.NumLayers != 26 ||
		c.NumHeads != 8 || c.NumKVHeads != 4 || c.HeadDim != 256 || c.RMSNormEps != 1e-6 || c.RopeTheta != 10000 ||
		c.QueryPreAttnScalar != 256 || c.SlidingWindow != 4096 || c.AttnLogitSoftcapping != 50 ||
		c.FinalLogitSoftcapping != 30 || c.PadTokenID != 0 || c.BOSTokenID != 2 || !slices.Equal(c.EOSTokenIDs, []int{1, 107}) ||
		c.HiddenActivation != GELUTanh || c.TorchDType != "float32" {
		t.Errorf("parsed %+v", c)
	}
	if !slices.Equal(c.LayerTypes, want.LayerTypes) {
		t.Errorf("layer types %v, want %v", c.LayerTypes, want.LayerTypes)
	}
	// Layer 0 slides (transformers: `not bool(layer_idx % 2)`), layer 1 is global, … layer 25 global.
	if !c.Sliding(0) || c.Sliding(1) || !c.Sliding(24) || c.Sliding(25) {
		t.Errorf("sliding layers wrong: %v", c.LayerTypes)
	}
	if got := c.Scaling(); got != 1.0/16 {
		t.Errorf("scaling %g, want 256^-1/2 = 1/16", got)
	}
}

func TestParseConfigVariants(t *testing.T) {
	base := `"model_type":"gemma2","vocab_size":10,"hidden_size":4,"intermediate_size":6,"num_hidden_layers":3,` +
		`"num_attention_heads":2,"num_key_value_heads":1,"head_dim":2`
	for _, tc := range []struct {
		name, json string
		check      func(Config) bool
		wantErr    string
	}{
		{"null soft-cap and window", `{` + base + `,"attn_logit_softcapping":null,"sliding_window":null}`,
			func(c Config) bool { return c.AttnLogitSoftcapping == 0 && c.SlidingWindow == 0 && !c.Sliding(0) }, ""},
		{"absent keys take Gemma2Config defaults", `{` + base + `}`,
			func(c Config) bool {
				return c.AttnLogitSoftcapping == 50 && c.SlidingWindow == 4096 && c.QueryPreAttnScalar == 256 &&
					slices.Equal(c.LayerTypes, []string{SlidingAttention, FullAttention, SlidingAttention})
			}, ""},
		{"layer_types and rope_parameters (newer transformers)", `{` + base +
			`,"layer_types":["full_attention","sliding_attention","full_attention"],"rope_parameters":{"rope_type":"default","rope_theta":500.0}}`,
			func(c Config) bool { return !c.Sliding(0) && c.Sliding(1) && c.RopeTheta == 500 }, ""},
		{"eos as a number", `{` + base + `,"eos_token_id":1}`, func(c Config) bool { return slices.Equal(c.EOSTokenIDs, []int{1}) }, ""},
		{"wrong model", `{"model_type":"llama"}`, nil, `model_type "llama"`},
		{"erf gelu", `{` + base + `,"hidden_activation":"gelu"}`, nil, "hidden_activation"},
		{"heads not a multiple", `{` + base + `,"num_key_value_heads":3}`, nil, "not a multiple"},
		{"layer_types length", `{` + base + `,"layer_types":["full_attention"]}`, nil, "layer_types has 1 entries"},
		{"bad json", `{`, nil, "config.json"},
		{"rope scaling", `{` + base + `,"rope_scaling":{"type":"linear","factor":2}}`, nil, "rope_scaling"},
		{"attention bias", `{` + base + `,"attention_bias":true}`, nil, "attention_bias"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.json))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("parsed %+v", c)
			}
		})
	}
}

func TestLoadConfigMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadConfig(filepath.Join(dir, "nope"))
	if err == nil || !containsAll(err.Error(), "not found", "google/gemma-2-2b-it", "config.json", "tokenizer.model") {
		t.Errorf("missing folder: %v", err)
	}
	_, err = LoadConfig(dir)
	if err == nil || !containsAll(err.Error(), "no config.json", "google/gemma-2-2b-it") {
		t.Errorf("empty folder: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(gemma22bITConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadConfig(dir); err != nil || c.HiddenSize != 2304 {
		t.Errorf("LoadConfig(dir) = %+v, %v", c, err)
	}
}
