package geneval

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/sprint-distill/sprint/eval/clip"
	"github.com/sprint-distill/sprint/eval/imaging"
)

// ColorNames are GenEval's colours, in classifier order.
var ColorNames = []string{"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white"}

// ColorTemplates are the zero-shot prompts; {c} is the colour and {object} the class.
var ColorTemplates = []string{"a photo of a {c} {object}", "a photo of a {c}-colored {object}", "a photo of a {c} object"}

// ZeroShotWeights builds the colour classifier of one object class: for each colour, the L2-normalised
// text embeddings of the templates are averaged and normalised again (CLIP_benchmark's
// zero_shot_classifier). encode embeds a batch of texts.
func ZeroShotWeights(encode func(texts []string) ([][]float32, error), object string) ([][]float64, error) {
	var texts []string
	for _, c := range ColorNames {
		for _, t := range ColorTemplates {
			texts = append(texts, strings.NewReplacer("{c}", c, "{object}", object).Replace(t))
		}
	}
	emb, err := encode(texts)
	if err != nil {
		return nil, err
	}
	if len(emb) != len(texts) {
		return nil, fmt.Errorf("%d embeddings for %d texts", len(emb), len(texts))
	}
	k := len(ColorTemplates)
	weights := make([][]float64, len(ColorNames))
	for ci := range ColorNames {
		mean := make([]float64, len(emb[0]))
		for ti := 0; ti < k; ti++ {
			for i, v := range clip.Normalize(emb[ci*k+ti]) {
				mean[i] += v / float64(k)
			}
		}
		var n float64
		for _, v := range mean {
			n += v * v
		}
		n = math.Sqrt(n)
		for i := range mean {
			mean[i] /= n
		}
		weights[ci] = mean
	}
	return weights, nil
}

// Classify returns the index of the colour whose classifier weight has the largest dot product with
// the normalised image embedding (argmax of 100·f·W; the first on ties).
func Classify(image []float32, weights [][]float64) int {
	f := clip.Normalize(image)
	best, bestScore := 0, math.Inf(-1)
	for c, w := range weights {
		var s float64
		for i := range w {
			s += f[i] * w[i]
		}
		if s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

// ColorCrop prepares one object for colour classification as GenEval does: pixels outside the
// instance mask become bg, then the image is cropped to the box (coordinates rounded half to even, as
// PIL's crop does). Without a mask only the crop applies; with crop false the whole image is kept.
func ColorCrop(img *imaging.RGB8, d Detection, bg [3]uint8, crop bool) (*imaging.RGB8, error) {
	out := img
	if d.Mask != nil {
		if d.Mask.Width != img.Width || d.Mask.Height != img.Height {
			return nil, fmt.Errorf("mask %dx%d for a %dx%d image", d.Mask.Width, d.Mask.Height, img.Width, img.Height)
		}
		out = imaging.NewRGB8(img.Width, img.Height)
		for i, on := range d.Mask.Bits {
			if on {
				copy(out.Pix[3*i:3*i+3], img.Pix[3*i:3*i+3])
			} else {
				copy(out.Pix[3*i:3*i+3], bg[:])
			}
		}
	}
	if !crop {
		return out, nil
	}
	r := func(v float64) int { return int(math.RoundToEven(v)) }
	return imaging.Crop(out, r(d.Box.X1), r(d.Box.Y1), r(d.Box.X2), r(d.Box.Y2))
}

// CLIPColors classifies colours with CLIP zero-shot (GenEval uses ViT-L/14 with OpenAI's weights).
type CLIPColors struct {
	Scorer     *clip.Scorer
	Background [3]uint8 // #999999 in GenEval
	Crop       bool     // crop to the box (GenEval's default)

	mu    sync.Mutex
	cache map[string][][]float64
}

// NewCLIPColors returns GenEval's default colour classifier on a CLIP scorer.
func NewCLIPColors(s *clip.Scorer) *CLIPColors {
	return &CLIPColors{Scorer: s, Background: [3]uint8{0x99, 0x99, 0x99}, Crop: true, cache: map[string][][]float64{}}
}

func (c *CLIPColors) weights(class string) ([][]float64, error) {
	c.mu.Lock()
	w, ok := c.cache[class]
	c.mu.Unlock()
	if ok {
		return w, nil
	}
	w, err := ZeroShotWeights(c.Scorer.TextFeatures, class)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cache[class] = w
	c.mu.Unlock()
	return w, nil
}

// Colors implements ColorClassifier.
func (c *CLIPColors) Colors(img *imaging.RGB8, class string, objs []Detection) ([]string, error) {
	w, err := c.weights(class)
	if err != nil {
		return nil, err
	}
	crops := make([]*imaging.RGB8, len(objs))
	for i, d := range objs {
		if crops[i], err = ColorCrop(img, d, c.Background, c.Crop); err != nil {
			return nil, err
		}
	}
	feats, err := c.Scorer.ImageFeatures(crops)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(feats))
	for i, f := range feats {
		out[i] = ColorNames[Classify(f, w)]
	}
	return out, nil
}
