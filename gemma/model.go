package gemma

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Model is a loaded Gemma-2 encoder: configuration, weights and tokenizer.
type Model struct {
	Path      string // the folder it was read from
	Config    Config
	Params    Params
	Tokenizer *Tokenizer
}

// LoadOptions tune Load.
type LoadOptions struct {
	// DType converts the weights while loading (see LoadParams): dtypes.Float32,
	// dtypes.BFloat16, or dtypes.InvalidDType to keep the stored float32/bfloat16.
	DType dtypes.DType
}

// Load reads a Gemma-2 model folder: config.json, tokenizer.model and the weights
// (model.safetensors or a sharded index), checked strictly against the config. A missing
// folder or file is an error saying what the folder must hold (WantedFolder).
func Load(dir string, opts LoadOptions) (*Model, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	tok, err := LoadTokenizer(dir)
	if err != nil {
		return nil, err
	}
	if err := CheckTokenizer(cfg, tok); err != nil {
		return nil, fmt.Errorf("gemma %s: %w", dir, err)
	}
	p, err := LoadParams(dir, cfg, opts.DType)
	if err != nil {
		return nil, err
	}
	return &Model{Path: dir, Config: cfg, Params: p, Tokenizer: tok}, nil
}

// CheckTokenizer checks that the tokenizer fits the model: its ids index the embedding and its
// <bos> and <pad> are config.json's bos_token_id and pad_token_id.
func CheckTokenizer(cfg Config, tok *Tokenizer) error {
	switch {
	case tok.VocabSize() > cfg.VocabSize:
		return fmt.Errorf("tokenizer.model has %d pieces, more than config.json's vocab_size %d", tok.VocabSize(), cfg.VocabSize)
	case tok.BOS() != cfg.BOSTokenID:
		return fmt.Errorf("tokenizer.model's <bos> is %d, config.json's bos_token_id %d", tok.BOS(), cfg.BOSTokenID)
	case tok.Pad() != cfg.PadTokenID:
		return fmt.Errorf("tokenizer.model's <pad> is %d, config.json's pad_token_id %d", tok.Pad(), cfg.PadTokenID)
	}
	return nil
}

// DType is the weights' dtype.
func (m *Model) DType() dtypes.DType {
	if t, ok := m.Params[EmbedTokens]; ok {
		return t.DType()
	}
	return dtypes.InvalidDType
}

// Runner runs Forward on a backend with the weights as graph inputs, compiling once per
// (batch, length) shape.
type Runner struct {
	cfg  Config
	opts Options
	args []any
	exec *graph.Exec
}

// NewRunner prepares the forward of a configuration and its weights (checked against it).
func NewRunner(backend compute.Backend, cfg Config, p Params, opts Options) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := p.Check(cfg); err != nil {
		return nil, err
	}
	names, values := p.Sorted()
	dt := values[0].DType()
	for i, v := range values {
		if v.DType() != dt {
			return nil, fmt.Errorf("gemma: weight %q is %s, %q is %s: convert them to one dtype", names[i], v.DType(), names[0], dt)
		}
	}
	exec, err := graph.NewExec(backend, func(g *graph.Graph, nodes []*graph.Node) *graph.Node {
		w := WeightsFromNodes(names, nodes[:len(names)])
		ids, mask := nodes[len(names)], nodes[len(names)+1]
		return graph.ConvertDType(Forward(cfg, w, ids, mask, opts), dtypes.Float32)
	})
	if err != nil {
		return nil, fmt.Errorf("gemma: %w", err)
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return &Runner{cfg: cfg, opts: opts, args: args, exec: exec}, nil
}

// Hidden returns the last hidden state, float32 (B, T, D), of token ids (B, T) (int32) under the
// padding mask (B, T) (float32, 1 for tokens and 0 for padding).
func (r *Runner) Hidden(ids, mask *tensors.Tensor) (*tensors.Tensor, error) {
	if ids == nil || mask == nil || ids.Rank() != 2 || ids.DType() != dtypes.Int32 {
		return nil, fmt.Errorf("gemma: ids must be an int32 (B, T) tensor")
	}
	if mask.DType() != dtypes.Float32 || !slices.Equal(mask.Shape().Dimensions, ids.Shape().Dimensions) {
		return nil, fmt.Errorf("gemma: mask %s must be float32 shaped like ids %s", mask.Shape(), ids.Shape())
	}
	var bad error
	if err := tensors.ConstFlatData(ids, func(f []int32) {
		for i, id := range f {
			if id < 0 || int(id) >= r.cfg.VocabSize {
				bad = fmt.Errorf("gemma: token %d: id %d outside the vocabulary [0, %d)", i, id, r.cfg.VocabSize)
				return
			}
		}
	}); err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	out, err := r.exec.Call(append(slices.Clone(r.args), ids, mask)...)
	if err != nil {
		return nil, fmt.Errorf("gemma forward: %w", err)
	}
	if err := out[0].ToLocal(); err != nil {
		return nil, fmt.Errorf("gemma forward: reading outputs: %w", err)
	}
	return out[0], nil
}

// Close releases the compiled graphs.
func (r *Runner) Close() {
	if r.exec != nil {
		r.exec.Finalize()
		r.exec = nil
	}
}

// Config is the runner's model configuration.
func (r *Runner) Config() Config { return r.cfg }
