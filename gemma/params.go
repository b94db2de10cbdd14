package gemma

import (
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/netgraph"
	"github.com/sprint-distill/sprint/safetensors"
)

// Parameter names outside the layers (Hugging Face's Gemma2ForCausalLM keys).
const (
	EmbedTokens = "model.embed_tokens.weight" // [vocab, D]
	FinalNorm   = "model.norm.weight"         // [D]
	// LMHead is the language-model head. Gemma-2 ties it to the embedding and its
	// checkpoints usually omit it; the encoder does not use it, so the loader skips it.
	LMHead = "lm_head.weight"
)

// Per-layer parameter names, after LayerPrefix(i).
const (
	InputNorm        = "input_layernorm.weight"            // [D]
	QProj            = "self_attn.q_proj.weight"           // [heads·head_dim, D]
	KProj            = "self_attn.k_proj.weight"           // [kv_heads·head_dim, D]
	VProj            = "self_attn.v_proj.weight"           // [kv_heads·head_dim, D]
	OProj            = "self_attn.o_proj.weight"           // [D, heads·head_dim]
	PostAttnNorm     = "post_attention_layernorm.weight"   // [D]
	PreFFNorm        = "pre_feedforward_layernorm.weight"  // [D]
	GateProj         = "mlp.gate_proj.weight"              // [intermediate, D]
	UpProj           = "mlp.up_proj.weight"                // [intermediate, D]
	DownProj         = "mlp.down_proj.weight"              // [D, intermediate]
	PostFFNorm       = "post_feedforward_layernorm.weight" // [D]
	layerPrefixStart = "model.layers."
)

// LayerPrefix is the key prefix of layer i: "model.layers.<i>.".
func LayerPrefix(i int) string { return layerPrefixStart + strconv.Itoa(i) + "." }

// ParamSpec names one parameter and its dimensions (PyTorch layout: Linear weights are (out, in)).
type ParamSpec = safetensors.Spec

// layerParams is the table of one layer's parameters and their shapes, in checkpoint order.
func layerParams(c Config) []ParamSpec {
	D, I := c.HiddenSize, c.IntermediateSize
	q, kv := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	return []ParamSpec{
		{Name: InputNorm, Dims: []int{D}},
		{Name: QProj, Dims: []int{q, D}},
		{Name: KProj, Dims: []int{kv, D}},
		{Name: VProj, Dims: []int{kv, D}},
		{Name: OProj, Dims: []int{D, q}},
		{Name: PostAttnNorm, Dims: []int{D}},
		{Name: PreFFNorm, Dims: []int{D}},
		{Name: GateProj, Dims: []int{I, D}},
		{Name: UpProj, Dims: []int{I, D}},
		{Name: DownProj, Dims: []int{D, I}},
		{Name: PostFFNorm, Dims: []int{D}},
	}
}

// ParamSpecs lists every parameter the encoder reads, with its shape from the config: the
// embedding, each layer's eleven tensors, the final norm (no lm_head). The loader checks a
// checkpoint against it and the forward reads exactly these names.
func ParamSpecs(c Config) []ParamSpec {
	specs := []ParamSpec{{Name: EmbedTokens, Dims: []int{c.VocabSize, c.HiddenSize}}}
	for i := range c.NumLayers {
		for _, p := range layerParams(c) {
			specs = append(specs, ParamSpec{Name: LayerPrefix(i) + p.Name, Dims: p.Dims})
		}
	}
	return append(specs, ParamSpec{Name: FinalNorm, Dims: []int{c.HiddenSize}})
}

// Parameter parts, for counts.
const (
	PartEmbedding = "embedding"
	PartAttention = "attention"
	PartMLP       = "mlp"
	PartNorms     = "norms"
)

// ParamParts lists the parts in network order.
func ParamParts() []string { return []string{PartEmbedding, PartAttention, PartMLP, PartNorms} }

// ParamPart names the part a parameter belongs to: the embedding, attention projections,
// MLP projections or norms (the four per layer and the final one).
func ParamPart(name string) string {
	switch {
	case name == EmbedTokens || name == LMHead:
		return PartEmbedding
	case strings.Contains(name, ".self_attn."):
		return PartAttention
	case strings.Contains(name, ".mlp."):
		return PartMLP
	}
	return PartNorms
}

// CountParams returns the number of elements per part (see ParamPart) and in total.
func CountParams(specs []ParamSpec) (perPart map[string]int64, total int64) {
	return safetensors.Count(specs, ParamPart)
}

// Params holds parameter values by name.
type Params map[string]*tensors.Tensor

// Sorted returns the names in sorted order and the tensors in the same order: the order in
// which the Runner passes parameters to its graph (see WeightsFromNodes).
func (p Params) Sorted() ([]string, []*tensors.Tensor) { return netgraph.Sorted(p) }

// Check compares p against ParamSpecs(c): it returns an error listing the missing,
// unexpected and mis-shaped names, or nil when they match exactly.
func (p Params) Check(c Config) error {
	missing, unexpected, misshaped := safetensors.Compare(ParamSpecs(c), p)
	return keysError("gemma parameters", missing, unexpected, misshaped)
}

// keysError formats a parameter-set mismatch ("<what> do not match config.json", then one
// line per key, at most 20 per list); nil when all lists are empty.
func keysError(what string, missing, unexpected, misshaped []string) error {
	return safetensors.KeysError(what, "config.json", 20, missing, unexpected, misshaped)
}
