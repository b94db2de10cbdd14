package prepare

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// Bucket is one aspect-ratio bucket: images whose height/width ratio is nearest to Ratio are
// resized and centre-cropped to Height×Width.
type Bucket struct {
	Ratio         string // the table key, height/width, e.g. "0.57"
	Height, Width int
}

// bucketTable is one of SANA's ASPECT_RATIO_* tables (diffusion/data/datasets/utils.py), in the
// table's order (ascending ratio), as (key, height, width).
type bucketTable []Bucket

// aspect512 is SANA's ASPECT_RATIO_512.
var aspect512 = bucketTable{
	{"0.25", 256, 1024}, {"0.26", 256, 992}, {"0.27", 256, 960}, {"0.28", 256, 928},
	{"0.32", 288, 896}, {"0.33", 288, 864}, {"0.35", 288, 832}, {"0.4", 320, 800},
	{"0.42", 320, 768}, {"0.48", 352, 736}, {"0.5", 352, 704}, {"0.52", 352, 672},
	{"0.57", 384, 672}, {"0.6", 384, 640}, {"0.68", 416, 608}, {"0.72", 416, 576},
	{"0.78", 448, 576}, {"0.82", 448, 544}, {"0.88", 480, 544}, {"0.94", 480, 512},
	{"1.0", 512, 512}, {"1.07", 512, 480}, {"1.13", 544, 480}, {"1.21", 544, 448},
	{"1.29", 576, 448}, {"1.38", 576, 416}, {"1.46", 608, 416}, {"1.67", 640, 384},
	{"1.75", 672, 384}, {"2.0", 704, 352}, {"2.09", 736, 352}, {"2.4", 768, 320},
	{"2.5", 800, 320}, {"2.89", 832, 288}, {"3.0", 864, 288}, {"3.11", 896, 288},
	{"3.62", 928, 256}, {"3.75", 960, 256}, {"3.88", 992, 256}, {"4.0", 1024, 256},
}

// aspect1024 is SANA's ASPECT_RATIO_1024, which is ASPECT_RATIO_512 with both sides doubled.
var aspect1024 = aspect512.scaled(2)

// scaled is the table with both sides of every bucket multiplied by k.
func (t bucketTable) scaled(k int) bucketTable {
	out := make(bucketTable, len(t))
	for i, b := range t {
		out[i] = Bucket{Ratio: b.Ratio, Height: k * b.Height, Width: k * b.Width}
	}
	return out
}

// Buckets returns SANA's aspect-ratio buckets for a base resolution (512 or 1024), in the
// table's order.
func Buckets(resolution int) ([]Bucket, error) {
	switch resolution {
	case 512:
		return append([]Bucket(nil), aspect512...), nil
	case 1024:
		return append([]Bucket(nil), aspect1024...), nil
	}
	return nil, fmt.Errorf("resolution %d: SANA's buckets exist for 512 and 1024", resolution)
}

// NearestBucket is SANA's get_closest_ratio: the bucket whose ratio key is nearest to the
// image's height/width, the first one in table order on a tie. It returns the bucket's index.
func NearestBucket(buckets []Bucket, width, height int) (int, error) {
	if width <= 0 || height <= 0 {
		return 0, fmt.Errorf("image size %dx%d", width, height)
	}
	ratio := float64(height) / float64(width)
	best, bestDist := -1, math.Inf(1)
	for i, b := range buckets {
		r, err := strconv.ParseFloat(b.Ratio, 64)
		if err != nil {
			return 0, fmt.Errorf("bucket ratio %q: %w", b.Ratio, err)
		}
		if d := math.Abs(r - ratio); d < bestDist {
			best, bestDist = i, d
		}
	}
	return best, nil
}

// ResizeSize is the size SANA's dataset resizes an image to before the centre crop to the
// bucket (height bh, width bw): the smallest scaling that covers the bucket, the other side
// truncated as Python's int() does:
//
//	bh/h > bw/w:  (bh, int(w·bh/h))   else  (int(h·bw/w), bw)      as (height, width)
func ResizeSize(width, height, bw, bh int) (rw, rh int) {
	if float64(bh)/float64(height) > float64(bw)/float64(width) {
		return int(float64(width*bh) / float64(height)), bh
	}
	return bw, int(float64(height*bw) / float64(width))
}

// ResizeCrop is SANA's training transform up to the tensor conversion: convert to RGB, resize
// with PIL's antialiased bicubic filter (torchvision Resize on a PIL image) to ResizeSize, then
// torchvision's CenterCrop to the bucket.
func ResizeCrop(m *imaging.RGB8, b Bucket) (*imaging.RGB8, error) {
	rw, rh := ResizeSize(m.Width, m.Height, b.Width, b.Height)
	r, err := imaging.Resize(m, rw, rh, imaging.Bicubic)
	if err != nil {
		return nil, err
	}
	return imaging.CenterCrop(r, b.Width, b.Height)
}
