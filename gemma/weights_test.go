package gemma

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/testfile"
	"github.com/sprint-distill/sprint/safetensors"
)

// configJSON renders c as a Hugging Face config.json.
func configJSON(t testing.TB, c Config) []byte {
	t.Helper()
	m := map[string]any{
		"architectures": []string{"Gemma2ForCausalLM"}, "model_type": "gemma2",
		"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "intermediate_size": c.IntermediateSize,
		"num_hidden_layers": c.NumLayers, "num_attention_heads": c.NumHeads, "num_key_value_heads": c.NumKVHeads,
		"head_dim": c.HeadDim, "hidden_activation": c.HiddenActivation, "rms_norm_eps": c.RMSNormEps,
		"rope_theta": c.RopeTheta, "query_pre_attn_scalar": c.QueryPreAttnScalar, "sliding_window": c.SlidingWindow,
		"attn_logit_softcapping": c.AttnLogitSoftcapping, "final_logit_softcapping": 30.0,
		"pad_token_id": c.PadTokenID, "bos_token_id": c.BOSTokenID, "eos_token_id": c.EOSTokenIDs,
		"max_position_embeddings": c.MaxPositionEmbeddings, "torch_dtype": "float32",
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tinyFolderConfig is tinyConfig with the tiny tokenizer's vocabulary.
func tinyFolderConfig() Config {
	c := tinyConfig()
	c.VocabSize = len(tinySpec().pieces)
	return c
}

// writeFolder writes a model folder: config.json, tokenizer.model and model.safetensors.
func writeFolder(t testing.TB, dir string, c Config, p Params) {
	t.Helper()
	testfile.Write(t, dir, "config.json", string(configJSON(t, c)))
	writeTinyTokenizer(t, dir)
	if p != nil {
		if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), p, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func sameValues(t *testing.T, a, b *tensors.Tensor) bool {
	t.Helper()
	return slices.Equal(a.Shape().Dimensions, b.Shape().Dimensions) && slices.Equal(values64(t, a), values64(t, b))
}

func TestLoadFolder(t *testing.T) {
	c := tinyFolderConfig()
	vals := randomValues(c, 7, 1)
	for _, tc := range []struct {
		name          string
		stored, asked dtypes.DType
		want          dtypes.DType
	}{
		{"float32 as stored", dtypes.Float32, dtypes.InvalidDType, dtypes.Float32},
		{"bfloat16 as stored", dtypes.BFloat16, dtypes.InvalidDType, dtypes.BFloat16},
		{"float32 to bfloat16", dtypes.Float32, dtypes.BFloat16, dtypes.BFloat16},
		{"bfloat16 to float32", dtypes.BFloat16, dtypes.Float32, dtypes.Float32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stored := paramsFrom(t, c, vals, tc.stored)
			withHead := Params{LMHead: stored[EmbedTokens]} // tied head: present in some exports, skipped
			for k, v := range stored {
				withHead[k] = v
			}
			writeFolder(t, dir, c, withHead)
			m, err := Load(dir, LoadOptions{DType: tc.asked})
			if err != nil {
				t.Fatal(err)
			}
			if m.DType() != tc.want || len(m.Params) != len(ParamSpecs(c)) {
				t.Fatalf("loaded %d params of %s, want %d of %s", len(m.Params), m.DType(), len(ParamSpecs(c)), tc.want)
			}
			if _, ok := m.Params[LMHead]; ok {
				t.Error("lm_head.weight was loaded")
			}
			want := paramsFrom(t, c, vals, tc.stored)
			for name, p := range m.Params {
				if !sameValues(t, mustConvert(t, p, dtypes.Float64), mustConvert(t, mustConvert(t, want[name], tc.want), dtypes.Float64)) {
					t.Errorf("%s differs after loading", name)
				}
			}
			if m.Tokenizer.VocabSize() != c.VocabSize || !equalShape(m.Config, c) {
				t.Errorf("config/tokenizer: %+v, vocab %d", m.Config, m.Tokenizer.VocabSize())
			}
		})
	}
}

func mustConvert(t *testing.T, x *tensors.Tensor, dt dtypes.DType) *tensors.Tensor {
	t.Helper()
	y, err := ConvertTensor(x, dt)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func equalShape(a, b Config) bool {
	return a.VocabSize == b.VocabSize && a.HiddenSize == b.HiddenSize && a.NumLayers == b.NumLayers &&
		a.NumHeads == b.NumHeads && a.NumKVHeads == b.NumKVHeads && a.HeadDim == b.HeadDim &&
		a.IntermediateSize == b.IntermediateSize && slices.Equal(a.LayerTypes, b.LayerTypes) &&
		a.SlidingWindow == b.SlidingWindow && a.AttnLogitSoftcapping == b.AttnLogitSoftcapping
}

// TestLoadStrict: missing, unexpected and mis-shaped keys are all listed, by name.
func TestLoadStrict(t *testing.T) {
	c := tinyFolderConfig()
	p := paramsFrom(t, c, randomValues(c, 8, 1), dtypes.Float32)
	delete(p, FinalNorm)
	p["model.layers.7.self_attn.q_proj.weight"] = p[LayerPrefix(0)+QProj]
	p[LayerPrefix(1)+KProj] = p[LayerPrefix(1)+QProj] // (16, 8) where (8, 8) is expected
	dir := t.TempDir()
	writeFolder(t, dir, c, p)
	_, err := Load(dir, LoadOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"1 missing, 1 unexpected, 1 mis-shaped", "missing:\n    model.norm.weight",
		"unexpected:\n    model.layers.7.self_attn.q_proj.weight",
		"model.layers.1.self_attn.k_proj.weight: have [16 8], want [8 8]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Count(msg, "model.layers.1.self_attn.k_proj.weight") != 1 {
		t.Errorf("mis-shaped key also listed as missing:\n%s", msg)
	}
}

// TestLoadSharded reads a two-shard checkpoint through model.safetensors.index.json.
func TestLoadSharded(t *testing.T) {
	c := tinyFolderConfig()
	p := paramsFrom(t, c, randomValues(c, 9, 1), dtypes.Float32)
	dir := t.TempDir()
	writeFolder(t, dir, c, nil)
	shards := []Params{{}, {}}
	index := map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": map[string]string{}}
	wm := index["weight_map"].(map[string]string)
	for i, s := range ParamSpecs(c) {
		k := i % 2
		shards[k][s.Name] = p[s.Name]
		wm[s.Name] = []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[k]
	}
	for k, sh := range shards {
		name := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[k]
		if err := safetensors.WriteFile(filepath.Join(dir, name), sh, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(index)
	testfile.Write(t, dir, "model.safetensors.index.json", string(b))
	m, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range p {
		if !sameValues(t, m.Params[name], want) {
			t.Errorf("%s differs", name)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "gemma-2-2b-it"), LoadOptions{}); err == nil || !containsAll(err.Error(), "not found", "google/gemma-2-2b-it", "model.safetensors") {
		t.Errorf("missing folder: %v", err)
	}
	c := tinyFolderConfig()
	writeFolder(t, dir, c, nil)
	if _, err := Load(dir, LoadOptions{}); err == nil || !containsAll(err.Error(), "model.safetensors", "google/gemma-2-2b-it") {
		t.Errorf("folder without weights: %v", err)
	}
	c.VocabSize = 10 // fewer rows than the tokenizer has pieces
	writeFolder(t, dir, c, nil)
	if _, err := Load(dir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "vocab_size") {
		t.Errorf("tokenizer larger than the vocabulary: %v", err)
	}
}
