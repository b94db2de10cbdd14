package gemma

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// Layer attention kinds, as Hugging Face's config.json names them in layer_types.
const (
	SlidingAttention = "sliding_attention"
	FullAttention    = "full_attention"
)

// GELUTanh is the only MLP activation supported: GELU with the tanh approximation
// (transformers' "gelu_pytorch_tanh").
const GELUTanh = "gelu_pytorch_tanh"

// Config is a Gemma-2 model configuration: the fields of Hugging Face's config.json
// (Gemma2Config) that the encoder uses.
type Config struct {
	VocabSize             int      // vocab_size
	HiddenSize            int      // hidden_size, D
	IntermediateSize      int      // intermediate_size of the GeGLU MLP
	NumLayers             int      // num_hidden_layers
	NumHeads              int      // num_attention_heads
	NumKVHeads            int      // num_key_value_heads (grouped-query attention)
	HeadDim               int      // head_dim
	HiddenActivation      string   // hidden_activation; only GELUTanh
	MaxPositionEmbeddings int      // max_position_embeddings
	RMSNormEps            float64  // rms_norm_eps
	RopeTheta             float64  // rope_theta (or rope_parameters.rope_theta)
	QueryPreAttnScalar    float64  // query_pre_attn_scalar: logits are scaled by its −½ power
	SlidingWindow         int      // sliding_window; 0 when null
	LayerTypes            []string // layer_types; per layer SlidingAttention or FullAttention
	AttnLogitSoftcapping  float64  // attn_logit_softcapping c; 0 when null (no soft-cap)
	FinalLogitSoftcapping float64  // final_logit_softcapping (language-model head only, unused here)
	PadTokenID            int      // pad_token_id
	BOSTokenID            int      // bos_token_id
	EOSTokenIDs           []int    // eos_token_id (a number or a list in config.json)
	TorchDType            string   // torch_dtype (or dtype): the stored weights' dtype, informative
}

// Gemma2_2B returns the configuration of google/gemma-2-2b-it (and gemma-2-2b), the text
// encoder of SANA and SANA-Sprint: 26 layers of width 2304, 8 query heads sharing 4 key/value
// heads of width 256, MLP width 9216, vocabulary 256000, sliding window 4096 on even layers,
// attention soft-cap 50.
func Gemma2_2B() Config {
	return Config{
		VocabSize:             256000,
		HiddenSize:            2304,
		IntermediateSize:      9216,
		NumLayers:             26,
		NumHeads:              8,
		NumKVHeads:            4,
		HeadDim:               256,
		HiddenActivation:      GELUTanh,
		MaxPositionEmbeddings: 8192,
		RMSNormEps:            1e-6,
		RopeTheta:             10000,
		QueryPreAttnScalar:    256,
		SlidingWindow:         4096,
		LayerTypes:            DefaultLayerTypes(26),
		AttnLogitSoftcapping:  50,
		FinalLogitSoftcapping: 30,
		PadTokenID:            0,
		BOSTokenID:            2,
		EOSTokenIDs:           []int{1, 107},
		TorchDType:            "float32",
	}
}

// DefaultLayerTypes is Gemma-2's alternation when config.json has no layer_types: layer i
// uses the sliding window when i is even (transformers: `not bool(layer_idx % 2)`), full
// attention when odd.
func DefaultLayerTypes(n int) []string {
	t := make([]string, n)
	for i := range t {
		if i%2 == 0 {
			t[i] = SlidingAttention
		} else {
			t[i] = FullAttention
		}
	}
	return t
}

// Sliding reports whether layer i attends through the sliding window.
func (c Config) Sliding(i int) bool {
	return c.SlidingWindow > 0 && i >= 0 && i < len(c.LayerTypes) && c.LayerTypes[i] == SlidingAttention
}

// Scaling is the attention logit scale query_pre_attn_scalar^−½.
func (c Config) Scaling() float64 { return 1 / math.Sqrt(c.QueryPreAttnScalar) }

// Validate checks that the configuration describes a network this package can run.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s = %d, want > 0", name, v))
		}
	}
	pos("vocab_size", c.VocabSize)
	pos("hidden_size", c.HiddenSize)
	pos("intermediate_size", c.IntermediateSize)
	pos("num_hidden_layers", c.NumLayers)
	pos("num_attention_heads", c.NumHeads)
	pos("num_key_value_heads", c.NumKVHeads)
	pos("head_dim", c.HeadDim)
	if c.NumHeads > 0 && c.NumKVHeads > 0 && c.NumHeads%c.NumKVHeads != 0 {
		errs = append(errs, fmt.Errorf("num_attention_heads = %d is not a multiple of num_key_value_heads = %d", c.NumHeads, c.NumKVHeads))
	}
	if c.HeadDim%2 != 0 {
		errs = append(errs, fmt.Errorf("head_dim = %d, want an even number (rotary embedding pairs)", c.HeadDim))
	}
	if c.HiddenActivation != GELUTanh {
		errs = append(errs, fmt.Errorf("hidden_activation = %q, only %q is supported", c.HiddenActivation, GELUTanh))
	}
	if !(c.RMSNormEps > 0) {
		errs = append(errs, fmt.Errorf("rms_norm_eps = %g, want > 0", c.RMSNormEps))
	}
	if !(c.RopeTheta > 0) {
		errs = append(errs, fmt.Errorf("rope_theta = %g, want > 0", c.RopeTheta))
	}
	if !(c.QueryPreAttnScalar > 0) {
		errs = append(errs, fmt.Errorf("query_pre_attn_scalar = %g, want > 0", c.QueryPreAttnScalar))
	}
	if c.SlidingWindow < 0 {
		errs = append(errs, fmt.Errorf("sliding_window = %d, want >= 0 (or null)", c.SlidingWindow))
	}
	if c.AttnLogitSoftcapping < 0 || math.IsNaN(c.AttnLogitSoftcapping) || math.IsInf(c.AttnLogitSoftcapping, 0) {
		errs = append(errs, fmt.Errorf("attn_logit_softcapping = %g, want > 0 (or null)", c.AttnLogitSoftcapping))
	}
	if len(c.LayerTypes) != c.NumLayers {
		errs = append(errs, fmt.Errorf("layer_types has %d entries for %d layers", len(c.LayerTypes), c.NumLayers))
	}
	for i, t := range c.LayerTypes {
		if t != SlidingAttention && t != FullAttention {
			errs = append(errs, fmt.Errorf("layer_types[%d] = %q, want %q or %q", i, t, SlidingAttention, FullAttention))
		}
	}
	if c.PadTokenID < 0 || c.PadTokenID >= max(c.VocabSize, 1) {
		errs = append(errs, fmt.Errorf("pad_token_id = %d outside the vocabulary [0, %d)", c.PadTokenID, c.VocabSize))
	}
	if c.BOSTokenID < 0 || c.BOSTokenID >= max(c.VocabSize, 1) {
		errs = append(errs, fmt.Errorf("bos_token_id = %d outside the vocabulary [0, %d)", c.BOSTokenID, c.VocabSize))
	}
	return errors.Join(errs...)
}

// ParseConfig reads a Hugging Face config.json of a Gemma-2 model. Keys it does not use are
// ignored (config.json holds many); absent keys take Gemma2Config's defaults (those of the
// 2B model); explicit nulls switch off the sliding window and the soft-caps. The result is
// validated.
func ParseConfig(data []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	c := Gemma2_2B()
	c.LayerTypes = nil
	c.EOSTokenIDs = []int{1}
	c.TorchDType = ""
	var errs []error
	// field decodes raw[key] into dst when present; a JSON null leaves nullDst (if given) zero.
	field := func(key string, dst any) {
		v, ok := raw[key]
		if !ok {
			return
		}
		if string(v) == "null" {
			errs = append(errs, fmt.Errorf("%s is null, want a value", key))
			return
		}
		if err := json.Unmarshal(v, dst); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	nullable := func(key string, dst *float64) {
		v, ok := raw[key]
		if !ok {
			return
		}
		if string(v) == "null" {
			*dst = 0
			return
		}
		if err := json.Unmarshal(v, dst); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}

	var modelType string
	field("model_type", &modelType)
	if modelType != "" && modelType != "gemma2" {
		return Config{}, fmt.Errorf("config.json: model_type %q, want \"gemma2\" (a Gemma-2 model such as google/gemma-2-2b-it)", modelType)
	}
	field("vocab_size", &c.VocabSize)
	field("hidden_size", &c.HiddenSize)
	field("intermediate_size", &c.IntermediateSize)
	field("num_hidden_layers", &c.NumLayers)
	field("num_attention_heads", &c.NumHeads)
	field("num_key_value_heads", &c.NumKVHeads)
	field("head_dim", &c.HeadDim)
	if _, ok := raw["hidden_activation"]; ok {
		field("hidden_activation", &c.HiddenActivation)
	} else if _, ok := raw["hidden_act"]; ok {
		field("hidden_act", &c.HiddenActivation)
	}
	field("max_position_embeddings", &c.MaxPositionEmbeddings)
	field("rms_norm_eps", &c.RMSNormEps)
	field("rope_theta", &c.RopeTheta)
	if rp, ok := raw["rope_parameters"]; ok && string(rp) != "null" {
		var p struct {
			RopeTheta *float64 `json:"rope_theta"`
			RopeType  string   `json:"rope_type"`
		}
		if err := json.Unmarshal(rp, &p); err != nil {
			errs = append(errs, fmt.Errorf("rope_parameters: %w", err))
		} else {
			if p.RopeTheta != nil {
				c.RopeTheta = *p.RopeTheta
			}
			if p.RopeType != "" && p.RopeType != "default" {
				errs = append(errs, fmt.Errorf("rope_parameters.rope_type %q, only \"default\" is supported", p.RopeType))
			}
		}
	}
	if rs, ok := raw["rope_scaling"]; ok && string(rs) != "null" {
		errs = append(errs, fmt.Errorf("rope_scaling %s is not supported (Gemma-2 has none)", rs))
	}
	field("query_pre_attn_scalar", &c.QueryPreAttnScalar)
	var window float64 = float64(c.SlidingWindow)
	nullable("sliding_window", &window)
	c.SlidingWindow = int(window)
	field("layer_types", &c.LayerTypes)
	nullable("attn_logit_softcapping", &c.AttnLogitSoftcapping)
	nullable("final_logit_softcapping", &c.FinalLogitSoftcapping)
	var attnBias bool
	field("attention_bias", &attnBias)
	if attnBias {
		errs = append(errs, errors.New("attention_bias = true is not supported (Gemma-2 has no attention biases)"))
	}
	var bidirectional bool
	if v, ok := raw["use_bidirectional_attention"]; ok && string(v) != "null" {
		field("use_bidirectional_attention", &bidirectional)
	}
	if bidirectional {
		errs = append(errs, errors.New("use_bidirectional_attention = true is not supported (the SANA encoder is causal)"))
	}
	field("pad_token_id", &c.PadTokenID)
	field("bos_token_id", &c.BOSTokenID)
	if v, ok := raw["eos_token_id"]; ok && string(v) != "null" {
		var one int
		if err := json.Unmarshal(v, &one); err == nil {
			c.EOSTokenIDs = []int{one}
		} else {
			var many []int
			if err := json.Unmarshal(v, &many); err != nil {
				errs = append(errs, fmt.Errorf("eos_token_id: want a number or a list of numbers: %w", err))
			}
			c.EOSTokenIDs = many
		}
	}
	if _, ok := raw["torch_dtype"]; ok {
		field("torch_dtype", &c.TorchDType)
	} else if _, ok := raw["dtype"]; ok {
		field("dtype", &c.TorchDType)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	if c.LayerTypes == nil {
		c.LayerTypes = DefaultLayerTypes(c.NumLayers)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	return c, nil
}

// WantedFolder says what a weights folder must hold; errors about missing files end with it.
const WantedFolder = "want a local copy of google/gemma-2-2b-it (or SANA's Efficient-Large-Model/gemma-2-2b-it): " +
	"a folder with config.json, model.safetensors (or model-*.safetensors with model.safetensors.index.json) and tokenizer.model"

// LoadConfig reads config.json from a model folder (or the file itself).
func LoadConfig(path string) (Config, error) {
	file, err := findFile(path, "config.json")
	if err != nil {
		return Config{}, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return Config{}, fmt.Errorf("gemma config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

// findFile returns path itself when it is a file, else the named file inside the folder path;
// a missing folder or file is an error saying what the folder should hold.
func findFile(path, name string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("gemma weights %s: not found; %s", path, WantedFolder)
		}
		return "", fmt.Errorf("gemma weights: %w", err)
	}
	if !st.IsDir() {
		return path, nil
	}
	file := filepath.Join(path, name)
	if st, err := os.Stat(file); err != nil || st.IsDir() {
		return "", fmt.Errorf("gemma weights %s: no %s in it; %s", path, name, WantedFolder)
	}
	return file, nil
}
