package decode

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/data"
)

// Decoder turns latents (B, C, H, W), in the latent space a model was trained on, into one
// image per batch row.
type Decoder interface {
	Decode(latents *tensors.Tensor) ([]image.Image, error)
}

// Func adapts a function to a Decoder.
type Func func(latents *tensors.Tensor) ([]image.Image, error)

// Decode implements Decoder.
func (f Func) Decode(latents *tensors.Tensor) ([]image.Image, error) { return f(latents) }

// Shapes is the shapes dataset's exact latent decoder (data.DecodeLatents).
var Shapes Decoder = Func(decodeShapes)

// Preview maps channels 0-2 of each latent to RGB, scaled by the batch's min and max: a look at
// latents when no decoder for their space is at hand.
var Preview Decoder = Func(preview)

// ByName returns the decoder a CLI flag names: "shapes" or "preview". Other decoders (the
// DC-AE) need weights and are built by their own constructors.
func ByName(name string) (Decoder, error) {
	switch name {
	case "shapes":
		return Shapes, nil
	case "preview":
		return Preview, nil
	}
	return nil, fmt.Errorf("decoder %q: want shapes or preview", name)
}

func decodeShapes(l *tensors.Tensor) ([]image.Image, error) {
	imgs, err := data.DecodeLatents(l)
	if err != nil {
		return nil, err
	}
	out := make([]image.Image, len(imgs))
	for i, im := range imgs {
		out[i] = im
	}
	return out, nil
}

func preview(l *tensors.Tensor) ([]image.Image, error) {
	d := l.Shape().Dimensions
	if len(d) != 4 {
		return nil, fmt.Errorf("latent preview: want (B, C, H, W), got %s", l.Shape())
	}
	flat, err := tensors.CopyFlatData[float32](l)
	if err != nil {
		return nil, fmt.Errorf("latent preview: %w", err)
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range flat {
		lo, hi = min(lo, v), max(hi, v)
	}
	scale := float32(255) / max(hi-lo, 1e-6)
	b, c, h, w := d[0], d[1], d[2], d[3]
	out := make([]image.Image, b)
	for i := range b {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				var px [3]uint8
				for k := range min(3, c) {
					px[k] = uint8((flat[((i*c+k)*h+y)*w+x] - lo) * scale)
				}
				img.SetRGBA(x, y, color.RGBA{px[0], px[1], px[2], 255})
			}
		}
		out[i] = img
	}
	return out, nil
}
