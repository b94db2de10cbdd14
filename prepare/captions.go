package prepare

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/safetensors"
)

// CaptionEncoder embeds captions for the training shards: the text encoder's hidden states as
// the diffusion model reads them (for SANA, Gemma-2-2B-IT's last hidden states over 300 tokens).
type CaptionEncoder interface {
	// Encode returns, for n prompts, the embeddings emb (n, L, D) and the mask (n, L), 1 for
	// tokens and 0 for padding. Every call must return the same L and D. emb may be float32,
	// bfloat16, float16 or float64; mask any float or integer dtype holding 0 and 1.
	Encode(ctx context.Context, prompts []string) (emb, mask *tensors.Tensor, err error)
}

// KeyedCaptionEncoder is implemented by caption sources that look embeddings up by sample key
// rather than computing them from the prompt (Precomputed). When Options.Captions implements it,
// EncodeKeys is called instead of Encode.
type KeyedCaptionEncoder interface {
	CaptionEncoder
	EncodeKeys(ctx context.Context, keys, prompts []string) (emb, mask *tensors.Tensor, err error)
}

// CaptionFunc adapts a function to a CaptionEncoder.
type CaptionFunc func(ctx context.Context, prompts []string) (emb, mask *tensors.Tensor, err error)

// Encode implements CaptionEncoder.
func (f CaptionFunc) Encode(ctx context.Context, prompts []string) (*tensors.Tensor, *tensors.Tensor, error) {
	return f(ctx, prompts)
}

// ShapesCaptions wraps the shapes dataset's fixed text encoder (data.TextEncoder): no weights,
// for tests and the CPU demo's data.
func ShapesCaptions(enc *data.TextEncoder) CaptionEncoder {
	return CaptionFunc(func(_ context.Context, prompts []string) (*tensors.Tensor, *tensors.Tensor, error) {
		emb, mask := enc.EncodeText(prompts)
		return emb, mask, nil
	})
}

// Precomputed serves caption embeddings computed elsewhere, from a safetensors file holding, for
// each sample key K, "embedding/K" (L, D) and "mask/K" (L) (0/1 values; absent means every
// token is real). All embeddings must share (L, D).
type Precomputed struct {
	path string
	f    *safetensors.File
	L, D int
}

// OpenPrecomputed opens a precomputed-embeddings file and checks its layout.
func OpenPrecomputed(path string) (*Precomputed, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("caption embeddings: %w", err)
	}
	p := &Precomputed{path: path, f: f}
	for _, n := range f.Names() {
		e, _ := f.Entry(n)
		switch {
		case strings.HasPrefix(n, "embedding/") && len(n) > len("embedding/"):
			if len(e.Shape) != 2 {
				_ = f.Close()
				return nil, fmt.Errorf("caption embeddings %s: %q has shape %v, want (L, D)", path, n, e.Shape)
			}
			if p.L == 0 {
				p.L, p.D = e.Shape[0], e.Shape[1]
			} else if e.Shape[0] != p.L || e.Shape[1] != p.D {
				_ = f.Close()
				return nil, fmt.Errorf("caption embeddings %s: %q has shape %v, others (%d, %d)", path, n, e.Shape, p.L, p.D)
			}
		case strings.HasPrefix(n, "mask/") && len(n) > len("mask/"):
		default:
			_ = f.Close()
			return nil, fmt.Errorf("caption embeddings %s: unexpected tensor %q (want embedding/<key> and mask/<key>)", path, n)
		}
	}
	if p.L == 0 {
		_ = f.Close()
		return nil, fmt.Errorf("caption embeddings %s: no embedding/<key> tensors", path)
	}
	return p, nil
}

// Close closes the file.
func (p *Precomputed) Close() error { return p.f.Close() }

// Encode implements CaptionEncoder; precomputed embeddings need keys, so it always fails.
func (p *Precomputed) Encode(context.Context, []string) (*tensors.Tensor, *tensors.Tensor, error) {
	return nil, nil, errors.New("precomputed caption embeddings are looked up by key, not by prompt")
}

// EncodeKeys implements KeyedCaptionEncoder.
func (p *Precomputed) EncodeKeys(_ context.Context, keys, _ []string) (*tensors.Tensor, *tensors.Tensor, error) {
	emb := make([]float32, 0, len(keys)*p.L*p.D)
	mask := make([]float32, 0, len(keys)*p.L)
	for _, k := range keys {
		v, _, err := p.f.Float32("embedding/" + k)
		if err != nil {
			return nil, nil, fmt.Errorf("caption embeddings %s: sample %q: %w", p.path, k, err)
		}
		emb = append(emb, v...)
		if _, ok := p.f.Entry("mask/" + k); ok {
			m, shape, err := p.f.Float32("mask/" + k)
			if err != nil {
				return nil, nil, fmt.Errorf("caption embeddings %s: sample %q: %w", p.path, k, err)
			}
			if len(shape) != 1 || shape[0] != p.L {
				return nil, nil, fmt.Errorf("caption embeddings %s: mask/%s has shape %v, want (%d)", p.path, k, shape, p.L)
			}
			mask = append(mask, m...)
		} else {
			for range p.L {
				mask = append(mask, 1)
			}
		}
	}
	n := len(keys)
	return tensors.FromFlatDataAndDimensions(emb, n, p.L, p.D), tensors.FromFlatDataAndDimensions(mask, n, p.L), nil
}

// embedCaptions runs the caption encoder on one batch and returns per-row float32 embeddings
// (L·D values each), masks (L values each) and (L, D), checking shapes and values.
func embedCaptions(ctx context.Context, enc CaptionEncoder, keys, prompts []string) ([][]float32, [][]float32, [2]int, error) {
	var emb, mask *tensors.Tensor
	var err error
	if k, ok := enc.(KeyedCaptionEncoder); ok {
		emb, mask, err = k.EncodeKeys(ctx, keys, prompts)
	} else {
		emb, mask, err = enc.Encode(ctx, prompts)
	}
	if err != nil {
		return nil, nil, [2]int{}, fmt.Errorf("caption encoder: %w", err)
	}
	n := len(prompts)
	ed, md := emb.Shape().Dimensions, mask.Shape().Dimensions
	if len(ed) != 3 || ed[0] != n || len(md) != 2 || md[0] != n || md[1] != ed[1] {
		return nil, nil, [2]int{}, fmt.Errorf("caption encoder: got embeddings %s and mask %s for %d prompts, want (n, L, D) and (n, L)",
			emb.Shape(), mask.Shape(), n)
	}
	L, D := ed[1], ed[2]
	ev, err := floats32(emb)
	if err != nil {
		return nil, nil, [2]int{}, fmt.Errorf("caption encoder embeddings: %w", err)
	}
	mv, err := floats32(mask)
	if err != nil {
		return nil, nil, [2]int{}, fmt.Errorf("caption encoder mask: %w", err)
	}
	embs, masks := make([][]float32, n), make([][]float32, n)
	for i := range n {
		embs[i] = slices.Clone(ev[i*L*D : (i+1)*L*D])
		masks[i] = slices.Clone(mv[i*L : (i+1)*L])
		for j, v := range embs[i] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, nil, [2]int{}, fmt.Errorf("caption encoder: sample %q: embedding value %d is %v", keys[i], j, v)
			}
		}
	}
	return embs, masks, [2]int{L, D}, nil
}

// floats32 returns any float or integer tensor's values as float32.
func floats32(t *tensors.Tensor) ([]float32, error) {
	if t.DType() == dtypes.Float32 {
		return tensors.CopyFlatData[float32](t)
	}
	widen, ok := widenTo32[t.DType()]
	if !ok {
		return nil, fmt.Errorf("dtype %s is not supported", t.DType())
	}
	out := make([]float32, t.Shape().Size())
	return out, widen(t, out)
}

// widenTo32 copies the values of a tensor of each dtype floats32 reads besides float32 into
// a []float32 of its size.
var widenTo32 = map[dtypes.DType]func(*tensors.Tensor, []float32) error{
	dtypes.Float64:  widen[float64],
	dtypes.BFloat16: widenHalf[bfloat16.BFloat16],
	dtypes.Float16:  widenHalf[float16.Float16],
	dtypes.Int64:    widen[int64],
	dtypes.Int32:    widen[int32],
	dtypes.Int16:    widen[int16],
	dtypes.Int8:     widen[int8],
	dtypes.Uint8:    widen[uint8],
	dtypes.Bool: func(t *tensors.Tensor, out []float32) error {
		return tensors.ConstFlatData(t, func(f []bool) {
			for i, v := range f {
				if v {
					out[i] = 1
				}
			}
		})
	},
}

func widen[T float64 | int64 | int32 | int16 | int8 | uint8](t *tensors.Tensor, out []float32) error {
	return tensors.ConstFlatData(t, func(f []T) {
		for i, v := range f {
			out[i] = float32(v)
		}
	})
}

func widenHalf[T interface {
	bfloat16.BFloat16 | float16.Float16
	Float32() float32
}](t *tensors.Tensor, out []float32) error {
	return tensors.ConstFlatData(t, func(f []T) {
		for i, v := range f {
			out[i] = v.Float32()
		}
	})
}
