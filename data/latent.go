package data

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"
)

// The shapes "latent" is a fixed, invertible space-to-depth of the RGB image (no learned autoencoder):
// with a patch factor p, an S x S image becomes a (3p², S/p, S/p) tensor, with the channel order of
// PyTorch's pixel_unshuffle:
//
//	latent[c*p*p + dy*p + dx][i][j] = (img[i*p+dy][j*p+dx].channel(c)/255 - ShapesPixelMean) / ShapesPixelStd
//
// where channel 0, 1, 2 is R, G, B. DecodeLatent inverts it exactly for latents made by EncodeLatent
// (each value is mapped back, rounded to the nearest 8-bit level and clamped to [0, 255]).
const (
	// ShapesPixelMean is the mean of the RGB values (scaled to [0, 1]) of the default shapes dataset.
	ShapesPixelMean = 0.065
	// ShapesPixelStd is their standard deviation; with the mean it scales latents to about zero mean
	// and unit variance.
	ShapesPixelStd = 0.246
)

func pixelToLatent(v uint8) float32 {
	return float32((float64(v)/255 - ShapesPixelMean) / ShapesPixelStd)
}

func latentToPixel(x float32) uint8 {
	v := (float64(x)*ShapesPixelStd + ShapesPixelMean) * 255
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(math.Round(v))
}

// ShapesPatch returns the patch factor p of a shapes latent with c = 3p² channels, and whether c
// is of that form at all.
func ShapesPatch(c int) (int, bool) {
	p := int(math.Round(math.Sqrt(float64(c) / 3)))
	return p, c > 0 && 3*p*p == c
}

// EncodeLatentFlat space-to-depths img (square, side divisible by patch) into a row-major (C, H, W)
// slice and returns it with its shape.
func EncodeLatentFlat(img image.Image, patch int) ([]float32, [3]int, error) {
	b := img.Bounds()
	size := b.Dx()
	if patch <= 0 {
		return nil, [3]int{}, fmt.Errorf("encode latent: patch %d must be > 0", patch)
	}
	if b.Dy() != size || size == 0 || size%patch != 0 {
		return nil, [3]int{}, fmt.Errorf("encode latent: image %dx%d must be square with a side divisible by the patch %d",
			b.Dx(), b.Dy(), patch)
	}
	hw := size / patch
	shape := [3]int{3 * patch * patch, hw, hw}
	out := make([]float32, shape[0]*hw*hw)
	rgba, _ := img.(*image.RGBA)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var px [3]uint8
			if rgba != nil {
				o := rgba.PixOffset(b.Min.X+x, b.Min.Y+y)
				px = [3]uint8{rgba.Pix[o], rgba.Pix[o+1], rgba.Pix[o+2]}
			} else {
				c := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
				px = [3]uint8{c.R, c.G, c.B}
			}
			i, dy, j, dx := y/patch, y%patch, x/patch, x%patch
			for c := 0; c < 3; c++ {
				ch := c*patch*patch + dy*patch + dx
				out[(ch*hw+i)*hw+j] = pixelToLatent(px[c])
			}
		}
	}
	return out, shape, nil
}

// EncodeLatent is EncodeLatentFlat returning a (C, H, W) float32 tensor.
func EncodeLatent(img image.Image, patch int) (*tensors.Tensor, error) {
	flat, shape, err := EncodeLatentFlat(img, patch)
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(flat, shape[:]...), nil
}

// DecodeLatentFlat inverts EncodeLatentFlat: values is a row-major (C, H, W) latent with C = 3p².
// Values outside the image range are clamped, so it also renders generated latents.
func DecodeLatentFlat(values []float32, shape [3]int) (*image.RGBA, error) {
	c, h, w := shape[0], shape[1], shape[2]
	p := int(math.Round(math.Sqrt(float64(c) / 3)))
	if c <= 0 || h <= 0 || w <= 0 || 3*p*p != c {
		return nil, fmt.Errorf("decode latent: shape %v: want (3p², H, W) with H, W > 0", shape)
	}
	if len(values) != c*h*w {
		return nil, fmt.Errorf("decode latent: %d values for shape %v (want %d)", len(values), shape, c*h*w)
	}
	img := image.NewRGBA(image.Rect(0, 0, w*p, h*p))
	for ch := 0; ch < c; ch++ {
		col, dy, dx := ch/(p*p), (ch%(p*p))/p, ch%p
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				o := img.PixOffset(j*p+dx, i*p+dy)
				img.Pix[o+col] = latentToPixel(values[(ch*h+i)*w+j])
				img.Pix[o+3] = 255
			}
		}
	}
	return img, nil
}

// tensorFloat32 copies a float tensor's values to float32.
func tensorFloat32(t *tensors.Tensor) ([]float32, error) {
	var out []float32
	var convErr error
	err := t.ConstFlatData(func(flat any) {
		switch v := flat.(type) {
		case []float32:
			out = append([]float32(nil), v...)
		case []float64:
			out = make([]float32, len(v))
			for i, x := range v {
				out[i] = float32(x)
			}
		case []float16.Float16:
			out = make([]float32, len(v))
			for i, x := range v {
				out[i] = x.Float32()
			}
		case []bfloat16.BFloat16:
			out = make([]float32, len(v))
			for i, x := range v {
				out[i] = x.Float32()
			}
		default:
			convErr = fmt.Errorf("tensor dtype %s: want a float dtype", t.DType())
		}
	})
	if err != nil {
		return nil, err
	}
	return out, convErr
}

// DecodeLatent renders a (C, H, W) or (1, C, H, W) shapes latent tensor of any float dtype as an image.
func DecodeLatent(latent *tensors.Tensor) (*image.RGBA, error) {
	if latent == nil {
		return nil, fmt.Errorf("decode latent: nil tensor")
	}
	dims := latent.Shape().Dimensions
	if len(dims) == 4 && dims[0] == 1 {
		dims = dims[1:]
	}
	if len(dims) != 3 {
		return nil, fmt.Errorf("decode latent: shape %s: want (C, H, W) or (1, C, H, W)", latent.Shape())
	}
	vals, err := tensorFloat32(latent)
	if err != nil {
		return nil, fmt.Errorf("decode latent: %w", err)
	}
	return DecodeLatentFlat(vals, [3]int{dims[0], dims[1], dims[2]})
}

// DecodeLatents renders each latent of a (B, C, H, W) tensor of any float dtype.
func DecodeLatents(batch *tensors.Tensor) ([]*image.RGBA, error) {
	if batch == nil {
		return nil, fmt.Errorf("decode latents: nil tensor")
	}
	dims := batch.Shape().Dimensions
	if len(dims) != 4 || !batch.DType().IsFloat() {
		return nil, fmt.Errorf("decode latents: shape %s: want float (B, C, H, W)", batch.Shape())
	}
	vals, err := tensorFloat32(batch)
	if err != nil {
		return nil, fmt.Errorf("decode latents: %w", err)
	}
	per := dims[1] * dims[2] * dims[3]
	out := make([]*image.RGBA, dims[0])
	for b := range out {
		if out[b], err = DecodeLatentFlat(vals[b*per:(b+1)*per], [3]int{dims[1], dims[2], dims[3]}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
