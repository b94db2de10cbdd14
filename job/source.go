package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/internal/tensorconv"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

// source adapts a data.Reader to train.BatchSource: batches as the distill losses name them, plus
// the null caption for classifier-free guidance, and the reader position for exact resume.
type source struct {
	ctx    context.Context
	reader *data.Reader
	it     *data.Iterator
	pos    data.Position
	null   *tensors.Tensor // (1, L, D)
	// control adds the batches' control latents (a ControlNet job, control.go).
	control bool
}

func newSource(ctx context.Context, reader *data.Reader, null *tensors.Tensor) (*source, error) {
	s := &source{ctx: ctx, reader: reader, null: null, pos: data.Position{Fingerprint: reader.Fingerprint()}}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *source) open() error {
	if s.it != nil {
		_ = s.it.Close()
	}
	it, err := s.reader.Iterate(s.ctx, s.pos)
	if err != nil {
		return fmt.Errorf("data reader at epoch %d batch %d: %w", s.pos.Epoch, s.pos.Index, err)
	}
	s.it = it
	return nil
}

// Next returns the next batch as a checked distill.Batch (with the null caption) in the names
// the step graphs read.
func (s *source) Next() (map[string]*tensors.Tensor, error) {
	b, err := s.it.Next()
	if err != nil {
		return nil, err
	}
	batch, err := distill.NewBatch(b.Latent, b.TextEmbedding, b.TextMask, s.null)
	if err != nil {
		return nil, fmt.Errorf("data reader at epoch %d batch %d: %w", s.pos.Epoch, s.pos.Index, err)
	}
	if s.control {
		if batch, err = batch.WithControl(b.Control); err != nil {
			return nil, fmt.Errorf("data reader at epoch %d batch %d: %w", s.pos.Epoch, s.pos.Index, err)
		}
	}
	s.pos = b.Next
	return batch.Tensors(), nil
}

// Position is the reader position after the last batch Next returned.
func (s *source) Position() json.RawMessage {
	b, _ := json.Marshal(s.pos) // a Position always marshals
	return b
}

// Restore moves the reader to a saved position.
func (s *source) Restore(raw json.RawMessage) error {
	var p data.Position
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("data position %s: %w", raw, err)
	}
	s.pos = p
	return s.open()
}

// Close stops the reader's background work.
func (s *source) Close() error {
	if s.it != nil {
		return s.it.Close()
	}
	return nil
}

// checkDataMatchesModel compares the shards' latent and caption shapes with the model's.
func checkDataMatchesModel(r *data.Reader, m model.Config) error {
	ts := r.TextShape()
	if ts[1] != m.CaptionDim {
		return fmt.Errorf("data: caption embeddings are %d wide but model.caption_dim is %d", ts[1], m.CaptionDim)
	}
	for _, b := range r.Buckets() {
		if b.LatentShape[0] != m.InChannels {
			return fmt.Errorf("data: latents have %d channels (shape %v) but model.in_channels is %d",
				b.LatentShape[0], b.LatentShape, m.InChannels)
		}
		if b.LatentShape[1]%m.PatchSize != 0 || b.LatentShape[2]%m.PatchSize != 0 {
			return fmt.Errorf("data: latent shape %v is not divisible by model.patch_size %d", b.LatentShape, m.PatchSize)
		}
	}
	return nil
}

// NullEmbeddingFile is the file, beside the first shard, that holds the null caption's embedding
// (tensor "null_embedding", (L, D)) of datasets whose text encoder sprint does not have.
const NullEmbeddingFile = "null_embedding.safetensors"

// NullEmbedding returns the unconditional caption (1, L, D) for classifier-free guidance: the
// shapes dataset's own encoder applied to "", or NullEmbeddingFile beside the first shard.
func NullEmbedding(r *data.Reader) (*tensors.Tensor, error) {
	if sc, ok, err := ShapesConfigOf(r); err != nil {
		return nil, err
	} else if ok {
		enc, err := sc.TextEncoder()
		if err != nil {
			return nil, err
		}
		emb, _ := enc.EncodeText([]string{""})
		return emb, nil
	}
	shards := r.Shards()
	if len(shards) == 0 {
		return nil, errors.New("data: no shards")
	}
	path := filepath.Join(filepath.Dir(shards[0].Path), NullEmbeddingFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("classifier-free guidance needs the null caption's embedding: %s not found "+
			"(write the text encoder's output for the empty prompt, shape (L, D), as tensor %q)", path, distill.NullEmbedding)
	}
	ts, _, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, ok := ts[distill.NullEmbedding]
	if !ok || t.Rank() != 2 {
		return nil, fmt.Errorf("%s: want a tensor %q of shape (L, D)", path, distill.NullEmbedding)
	}
	flat, err := tensorconv.Float32s(t) // Gemma writes bf16; f32 and f16 too
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", path, distill.NullEmbedding, err)
	}
	dims := t.Shape().Dimensions
	return tensors.FromFlatDataAndDimensions(flat, 1, dims[0], dims[1]), nil
}

// ShapesConfigOf returns the shapes dataset configuration stored in the first shard's metadata,
// if the shards are a shapes dataset.
func ShapesConfigOf(r *data.Reader) (data.ShapesConfig, bool, error) {
	var sc data.ShapesConfig
	if len(r.Shards()) == 0 {
		return sc, false, nil
	}
	js, ok := r.Metadata(0)[data.MetaShapesConfig]
	if !ok {
		return sc, false, nil
	}
	if err := json.Unmarshal([]byte(js), &sc); err != nil {
		return sc, false, fmt.Errorf("shard %s: metadata %s: %w", r.Shards()[0].Path, data.MetaShapesConfig, err)
	}
	return sc, true, nil
}
