package vae

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/tensorconv"
)

// ToImages converts decoded images (B, 3, H, W) in [−1, 1] to 8-bit RGB the way SANA saves
// samples (torchvision's save_image with value_range (−1, 1)):
//
//	p = floor(255·clamp((x+1)/2, 0, 1) + 0.5)
func ToImages(x *tensors.Tensor) ([]*image.NRGBA, error) {
	d := x.Shape().Dimensions
	if len(d) != 4 || d[1] != 3 {
		return nil, fmt.Errorf("images: want (B, 3, H, W), got %s", x.Shape())
	}
	flat, err := float32s(x)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	B, H, W := d[0], d[2], d[3]
	out := make([]*image.NRGBA, B)
	plane := H * W
	for b := range B {
		img := image.NewNRGBA(image.Rect(0, 0, W, H))
		base := b * 3 * plane
		for y := range H {
			for xx := range W {
				i := y*W + xx
				img.SetNRGBA(xx, y, color.NRGBA{
					R: toByte(flat[base+i]), G: toByte(flat[base+plane+i]), B: toByte(flat[base+2*plane+i]), A: 255,
				})
			}
		}
		out[b] = img
	}
	return out, nil
}

// toByte maps x ∈ [−1, 1] to 0…255 (see ToImages); NaN maps to 0.
func toByte(x float32) uint8 {
	v := (float64(x) + 1) / 2
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(math.Floor(v*255 + 0.5))
}

// FromImages converts same-sized images to a (B, 3, H, W) float32 tensor in [−1, 1], as SANA's
// training transform does (ToTensor, then Normalize(0.5, 0.5)): x = 2·p/255 − 1. Alpha is
// dropped without premultiplication (PIL's convert("RGB") on straight alpha).
func FromImages(imgs []image.Image) (*tensors.Tensor, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("images: none given")
	}
	r0 := imgs[0].Bounds()
	H, W := r0.Dy(), r0.Dx()
	plane := H * W
	vals := make([]float32, len(imgs)*3*plane)
	for b, img := range imgs {
		r := img.Bounds()
		if r.Dx() != W || r.Dy() != H {
			return nil, fmt.Errorf("images: image %d is %dx%d, image 0 is %dx%d", b, r.Dx(), r.Dy(), W, H)
		}
		base := b * 3 * plane
		for y := range H {
			for x := range W {
				c := color.NRGBAModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.NRGBA)
				i := y*W + x
				vals[base+i] = normalizePixel(c.R)
				vals[base+plane+i] = normalizePixel(c.G)
				vals[base+2*plane+i] = normalizePixel(c.B)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(vals, len(imgs), 3, H, W), nil
}

// normalizePixel is ToTensor then Normalize(0.5, 0.5) in float32: (p/255 − 0.5)/0.5.
func normalizePixel(p uint8) float32 {
	v := float32(p) / 255
	return (v - 0.5) / 0.5
}

// Float32 returns a float tensor (float32, float64, bfloat16 or float16) as float32: t itself
// when it already is one, a converted copy otherwise.
func Float32(t *tensors.Tensor) (*tensors.Tensor, error) { return toFloat32(t) }

// float32s returns a copy of the values of a float tensor as float32s.
func float32s(t *tensors.Tensor) ([]float32, error) {
	t, err := toFloat32(t)
	if err != nil {
		return nil, err
	}
	return tensors.CopyFlatData[float32](t)
}

// toFloat32 returns t as a float32 tensor (t itself when it already is one).
func toFloat32(t *tensors.Tensor) (*tensors.Tensor, error) {
	switch t.DType() {
	case dtypes.Float32, dtypes.Float64, dtypes.BFloat16, dtypes.Float16:
		return tensorconv.Convert(t, dtypes.Float32)
	}
	return nil, fmt.Errorf("tensor of dtype %s: want a float tensor", t.DType())
}
