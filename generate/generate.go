package generate

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/decode"
)

// TextEncoder turns prompts into caption embeddings (n, L, D) and masks (n, L), float32.
// caption.Encoder (Gemma-2, SANA's rules) is one; ShapesText adapts the demo's encoder.
type TextEncoder interface {
	Encode(ctx context.Context, prompts []string) (emb, mask *tensors.Tensor, err error)
}

// Sampler draws latents from unit noise for captions (distill.StudentSampler).
type Sampler interface {
	Sample(noise, text, mask *tensors.Tensor, seed int64) (*tensors.Tensor, error)
}

// Item is one image to make: its prompt and the file it goes to.
type Item struct {
	Prompt string
	Path   string
}

// Job generates images for items.
type Job struct {
	Text    TextEncoder
	Sampler Sampler
	Decoder decode.Decoder
	// Latent is the (C, H, W) shape of one latent.
	Latent [3]int
	// BatchSize is the number of images per sampler call (>= 1).
	BatchSize int
	// Seed fixes every batch's starting noise and re-injected noise.
	Seed uint64
	// Shard and Shards split the batches between processes: this one takes batch k when
	// k % Shards == Shard. Shards 0 means 1.
	Shard, Shards int
	// Progress receives a line per batch (images/s, ETA); nil is silent.
	Progress io.Writer
}

// Stats says what a run did.
type Stats struct {
	// Written counts the images written; Present those already there (skipped).
	Written, Present int
	// Batches counts the sampler calls.
	Batches int
	// Encode, Sample and Decode are the time spent in each stage.
	Encode, Sample, Decode time.Duration
}

// Run makes every missing image of items (its shard), batch by batch.
func (j *Job) Run(ctx context.Context, items []Item) (Stats, error) {
	var st Stats
	if j.BatchSize < 1 {
		return st, fmt.Errorf("generate: batch size %d must be >= 1", j.BatchSize)
	}
	shards := max(j.Shards, 1)
	if j.Shard < 0 || j.Shard >= shards {
		return st, fmt.Errorf("generate: shard %d of %d", j.Shard, shards)
	}
	nb := (len(items) + j.BatchSize - 1) / j.BatchSize
	mine := 0
	for k := j.Shard; k < nb; k += shards {
		mine++
	}
	start, done := time.Now(), 0
	for k := j.Shard; k < nb; k += shards {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		batch := items[k*j.BatchSize : min((k+1)*j.BatchSize, len(items))]
		var missing []int
		for i, it := range batch {
			if _, err := os.Stat(it.Path); err != nil {
				missing = append(missing, i)
			}
		}
		st.Present += len(batch) - len(missing)
		done++
		if len(missing) == 0 {
			continue
		}
		imgs, err := j.batch(ctx, k, batch, &st)
		if err != nil {
			return st, fmt.Errorf("generate: batch %d (%q ...): %w", k, batch[0].Prompt, err)
		}
		for _, i := range missing {
			if err := writePNG(batch[i].Path, imgs[i]); err != nil {
				return st, err
			}
			st.Written++
		}
		if j.Progress != nil {
			el := time.Since(start)
			rate := float64(st.Written) / el.Seconds()
			eta := time.Duration(float64(el) / float64(done) * float64(mine-done))
			fmt.Fprintf(j.Progress, "generate: batch %d/%d, %d written, %.2f images/s, ETA %s\n", done, mine, st.Written, rate, eta.Round(time.Second))
		}
	}
	return st, nil
}

// batch runs the three stages on one batch; its noise depends only on the batch index k.
func (j *Job) batch(ctx context.Context, k int, batch []Item, st *Stats) ([]image.Image, error) {
	prompts := make([]string, len(batch))
	for i, it := range batch {
		prompts[i] = it.Prompt
	}
	t0 := time.Now()
	text, mask, err := j.Text.Encode(ctx, prompts)
	if err != nil {
		return nil, fmt.Errorf("encoding the prompts: %w", err)
	}
	t1 := time.Now()
	lat, err := j.Sampler.Sample(Noise(j.Seed, k, len(batch), j.Latent), text, mask, int64(j.Seed)+int64(k))
	if err != nil {
		return nil, err
	}
	t2 := time.Now()
	imgs, err := j.Decoder.Decode(lat)
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if len(imgs) != len(batch) {
		return nil, fmt.Errorf("decoder returned %d images for %d latents", len(imgs), len(batch))
	}
	st.Encode += t1.Sub(t0)
	st.Sample += t2.Sub(t1)
	st.Decode += time.Since(t2)
	st.Batches++
	return imgs, nil
}

// Noise is the unit Gaussian starting noise (n, C, H, W) of batch k under seed.
func Noise(seed uint64, k, n int, shape [3]int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, uint64(k)))
	v := make([]float32, n*shape[0]*shape[1]*shape[2])
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, n, shape[0], shape[1], shape[2])
}

// writePNG writes one image atomically, so an interrupted job never leaves a partial file that
// a resumed one would take for done.
func writePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	return atomicfile.Write(atomicfile.OS{}, path, func(w io.Writer) error { return png.Encode(w, img) })
}
