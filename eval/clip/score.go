package clip

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/pipeline"
	"github.com/sprint-distill/sprint/eval/internal/progress"
)

// Cosine is the cosine similarity of two embeddings, in float64 (0 when either is zero).
func Cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// Normalize returns v/‖v‖ in float64.
func Normalize(v []float32) []float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	out := make([]float64, len(v))
	for i, x := range v {
		if n > 0 {
			out[i] = float64(x) / n
		}
	}
	return out
}

// ScoreAccumulator sums image–text cosines.
type ScoreAccumulator struct {
	Sum float64
	N   int
}

// Add counts one pair's cosine.
func (s *ScoreAccumulator) Add(cos float64) {
	s.Sum += cos
	s.N++
}

// Merge adds another accumulator's pairs.
func (s *ScoreAccumulator) Merge(o ScoreAccumulator) {
	s.Sum += o.Sum
	s.N += o.N
}

// MeanCosine is the average cosine (0 for no pairs).
func (s ScoreAccumulator) MeanCosine() float64 {
	if s.N == 0 {
		return 0
	}
	return s.Sum / float64(s.N)
}

// SANA is SANA's CLIP score ("self"): exp(logit_scale)·mean cosine, no clamp (100·mean for OpenAI's
// weights).
func (s ScoreAccumulator) SANA(logitScale float64) float64 { return logitScale * s.MeanCosine() }

// TorchMetrics is torchmetrics' CLIPScore: max(100·mean cosine, 0), the clamp applied to the mean.
func (s ScoreAccumulator) TorchMetrics() float64 { return math.Max(100*s.MeanCosine(), 0) }

// Scorer embeds images and prompts with one model and tokenizer.
type Scorer struct {
	Model     *Model
	Tokenizer *Tokenizer
}

// ImageFeatures preprocesses (bicubic resize, centre crop, normalise) and embeds images.
func (s *Scorer) ImageFeatures(imgs []*imaging.RGB8) ([][]float32, error) {
	pre, err := PreprocessAll(imgs, s.Model.Config().ImageSize)
	if err != nil {
		return nil, err
	}
	return s.Model.EncodeImages(pre)
}

// TextFeatures tokenizes (77 tokens, truncated with EOT) and embeds prompts.
func (s *Scorer) TextFeatures(prompts []string) ([][]float32, error) {
	ids := make([][]int32, len(prompts))
	for i, p := range prompts {
		var err error
		if ids[i], err = s.Tokenizer.Tokenize(p, s.Model.Config().ContextLength, true); err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i, err)
		}
	}
	return s.Model.EncodeTokens(ids)
}

// Cosines embeds image–prompt pairs and returns their cosines.
func (s *Scorer) Cosines(imgs []*imaging.RGB8, prompts []string) ([]float64, error) {
	if len(imgs) != len(prompts) {
		return nil, fmt.Errorf("%d images for %d prompts", len(imgs), len(prompts))
	}
	fi, err := s.ImageFeatures(imgs)
	if err != nil {
		return nil, err
	}
	ft, err := s.TextFeatures(prompts)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(imgs))
	for i := range out {
		out[i] = Cosine(fi[i], ft[i])
	}
	return out, nil
}

// LogitScale is the model's exp(logit_scale), SANA's score scale.
func (s *Scorer) LogitScale() float64 { return s.Model.LogitScale() }

// RunOptions configure ScoreFiles.
type RunOptions struct {
	BatchSize int       // pairs per network call (default 16)
	Workers   int       // decoding goroutines (default GOMAXPROCS)
	Progress  io.Writer // progress lines; nil for none
}

// ScoreFiles scores image files against their prompts, decoding one batch ahead of the model.
func (s *Scorer) ScoreFiles(ctx context.Context, files, prompts []string, opts RunOptions) (ScoreAccumulator, error) {
	var acc ScoreAccumulator
	if len(files) != len(prompts) {
		return acc, fmt.Errorf("%d images for %d prompts", len(files), len(prompts))
	}
	rep := progress.New(opts.Progress, "clip score", "images", len(files))
	err := pipeline.Run(ctx, len(files), pipeline.Options{BatchSize: opts.BatchSize, Workers: opts.Workers},
		func(i int) (*imaging.RGB8, error) { return imaging.Load(files[i]) },
		func(start int, imgs []*imaging.RGB8) error {
			cos, err := s.Cosines(imgs, prompts[start:start+len(imgs)])
			if err != nil {
				return fmt.Errorf("images %d..%d: %w", start, start+len(imgs)-1, err)
			}
			for _, v := range cos {
				acc.Add(v)
			}
			rep.Add(len(imgs))
			return nil
		})
	if err != nil {
		return acc, err
	}
	rep.Finish()
	return acc, nil
}
