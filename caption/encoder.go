package caption

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/gemma"
)

// TextModel runs the text encoder: the last hidden state (B, T, D) float32 of token ids
// (B, T) int32 under the padding mask (B, T) float32. gemma.Runner implements it.
type TextModel interface {
	Hidden(ids, mask *tensors.Tensor) (*tensors.Tensor, error)
}

// Options tune an Encoder.
type Options struct {
	// BatchSize is the number of prompts per forward pass (default 4). Every pass has this
	// batch size (the last one is filled with empty rows), so the graph compiles once.
	BatchSize int
	// Progress, if set, is called after each forward pass with the prompts done so far.
	Progress func(done, total int)
}

// Encoder makes SANA caption embeddings from prompts (see the package comment). Its methods
// may be called from one goroutine at a time.
type Encoder struct {
	cfg    Config
	tok    Tokenizer
	model  TextModel
	layout Layout
	opts   Options
	close  func()
}

// NewEncoder builds an encoder over a text model whose hidden size is cfg.CaptionChannels.
func NewEncoder(model TextModel, tok Tokenizer, cfg Config, opts Options) (*Encoder, error) {
	if model == nil || tok == nil {
		return nil, errors.New("caption: a text model and a tokenizer are required")
	}
	lay, err := NewLayout(tok, cfg)
	if err != nil {
		return nil, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 4
	}
	return &Encoder{cfg: cfg, tok: tok, model: model, layout: lay, opts: opts}, nil
}

// OpenOptions tune Open.
type OpenOptions struct {
	Options
	// DType is the dtype the weights are converted to (float32 or bfloat16);
	// dtypes.InvalidDType keeps what is stored.
	DType dtypes.DType
	// NoSoftCap skips Gemma's attention soft-cap (see gemma.Options).
	NoSoftCap bool
}

// Open loads the Gemma-2 model folder dir (config.json, weights, tokenizer.model) onto backend
// and returns its encoder; Close releases it. The model's hidden size must be
// cfg.CaptionChannels.
func Open(backend compute.Backend, dir string, cfg Config, opts OpenOptions) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := gemma.Load(dir, gemma.LoadOptions{DType: opts.DType})
	if err != nil {
		return nil, err
	}
	if m.Config.HiddenSize != cfg.CaptionChannels {
		return nil, fmt.Errorf("caption: %s has hidden size %d, the config's caption_channels is %d", dir, m.Config.HiddenSize, cfg.CaptionChannels)
	}
	r, err := gemma.NewRunner(backend, m.Config, m.Params, gemma.Options{NoSoftCap: opts.NoSoftCap})
	if err != nil {
		return nil, err
	}
	e, err := NewEncoder(r, m.Tokenizer, cfg, opts.Options)
	if err != nil {
		r.Close()
		return nil, err
	}
	e.close = r.Close
	return e, nil
}

// Close releases what Open loaded.
func (e *Encoder) Close() {
	if e.close != nil {
		e.close()
		e.close = nil
	}
}

// Layout is the encoder's token layout (instruction length, padded length, kept positions).
func (e *Encoder) Layout() Layout { return e.layout }

// Config is the encoder's configuration.
func (e *Encoder) Config() Config { return e.cfg }

// Encode returns the caption embeddings (n, L, D) float32 and their mask (n, L) float32 (1 for
// tokens, 0 for padding) of prompts, L = model_max_length, D = caption_channels. It checks ctx
// between forward passes.
func (e *Encoder) Encode(ctx context.Context, prompts []string) (emb *tensors.Tensor, mask *tensors.Tensor, err error) {
	if len(prompts) == 0 {
		return nil, nil, errors.New("caption: no prompts to encode")
	}
	toks, err := e.layout.Tokenize(e.tok, prompts)
	if err != nil {
		return nil, nil, err
	}
	return e.run(ctx, toks, e.layout.Select, e.opts.BatchSize, e.opts.Progress)
}

// EncodeNull returns the null caption's embedding (L, D) and mask (L), both float32: "" without
// the instruction, <bos> then L−1 <pad>, all L positions kept. This is the unconditional
// caption of classifier-free guidance (the reference's null_embed / y_embedding, whose mask is
// (1, 0, …, 0)).
func (e *Encoder) EncodeNull(ctx context.Context) (emb *tensors.Tensor, mask *tensors.Tensor, err error) {
	lay, err := NullLayout(e.cfg)
	if err != nil {
		return nil, nil, err
	}
	toks, err := lay.Tokenize(e.tok, []string{""})
	if err != nil {
		return nil, nil, err
	}
	emb, mask, err = e.run(ctx, toks, lay.Select, 1, nil)
	if err != nil {
		return nil, nil, err
	}
	L, D := emb.Shape().Dimensions[1], emb.Shape().Dimensions[2]
	return tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](emb), L, D),
		tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](mask), L), nil
}

// run encodes token rows in batches of batch rows and keeps the positions sel.
func (e *Encoder) run(ctx context.Context, toks *Tokens, sel []int, batch int, progress func(done, total int)) (*tensors.Tensor, *tensors.Tensor, error) {
	N, T, L := toks.N, toks.T, len(sel)
	B := min(batch, N)
	D := e.cfg.CaptionChannels
	embOut := make([]float32, N*L*D)
	maskOut := make([]float32, N*L)
	for start := 0; start < N; start += B {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("caption: stopped after %d of %d prompts: %w", start, N, err)
		}
		n := min(B, N-start)
		ids := make([]int32, B*T)
		m := make([]float32, B*T)
		copy(ids, toks.IDs[start*T:(start+n)*T])
		copy(m, toks.Mask[start*T:(start+n)*T])
		for r := n; r < B; r++ { // filler rows: <bos> (every row starts with it) then padding, dropped below
			ids[r*T], m[r*T] = toks.IDs[0], 1
			for j := 1; j < T; j++ {
				ids[r*T+j] = int32(max(e.tok.Pad(), 0))
			}
		}
		hidden, err := e.model.Hidden(tensors.FromFlatDataAndDimensions(ids, B, T), tensors.FromFlatDataAndDimensions(m, B, T))
		if err != nil {
			return nil, nil, fmt.Errorf("caption: prompts %d–%d: %w", start, start+n-1, err)
		}
		if got := hidden.Shape(); got.DType != dtypes.Float32 || !slices.Equal(got.Dimensions, []int{B, T, D}) {
			return nil, nil, fmt.Errorf("caption: the text model returned %s, want float32 (%d, %d, %d) (caption_channels %d)", got, B, T, D, D)
		}
		h := tensors.MustCopyFlatData[float32](hidden)
		for r := range n {
			b := start + r
			for l, pos := range sel {
				copy(embOut[(b*L+l)*D:(b*L+l+1)*D], h[(r*T+pos)*D:(r*T+pos+1)*D])
				maskOut[b*L+l] = toks.Mask[b*T+pos]
			}
		}
		if progress != nil {
			progress(start+n, N)
		}
	}
	return tensors.FromFlatDataAndDimensions(embOut, N, L, D), tensors.FromFlatDataAndDimensions(maskOut, N, L), nil
}
