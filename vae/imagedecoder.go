package vae

import (
	"errors"
	"fmt"
	"image"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/decode"
)

// ImageDecoder turns latents of a SANA model's space (DC-AE latents times scaling_factor) into
// 8-bit RGB images: it implements decode.Decoder. Rows are decoded Batch at a time and each
// chunk is converted to 8-bit pixels before the next, so only the images of the whole batch are
// held, never their float32 decodings; Tiling bounds the memory of one chunk.
type ImageDecoder struct {
	Model *Model
	// Batch is the number of latents decoded per call (default 1).
	Batch int
	// Tiling splits large latents; the zero value means DefaultDecodeTiling, a negative Tile
	// means never tile.
	Tiling Tiling
	// Progress, when set, is called after each chunk with the number of images done.
	Progress func(done, total int)
}

var _ decode.Decoder = (*ImageDecoder)(nil)

// NewImageDecoder returns an ImageDecoder with the default batch and tiling.
func NewImageDecoder(m *Model) *ImageDecoder {
	return &ImageDecoder{Model: m, Batch: 1, Tiling: DefaultDecodeTiling}
}

// Decode implements decode.Decoder: x = Decoder(z / scaling_factor) for latents z (B, C, h, w),
// then pixels as ToImages.
func (d *ImageDecoder) Decode(latents *tensors.Tensor) ([]image.Image, error) {
	if d.Model == nil {
		return nil, errors.New("DC-AE image decoder: no model")
	}
	dims := latents.Shape().Dimensions
	c := d.Model.cfg.LatentChannels
	if len(dims) != 4 || dims[1] != c || dims[0] == 0 {
		return nil, fmt.Errorf("DC-AE image decoder: latents %s: want (B, %d, h, w)", latents.Shape(), c)
	}
	flat, err := float32s(latents)
	if err != nil {
		return nil, fmt.Errorf("DC-AE image decoder: %w", err)
	}
	B := dims[0]
	per := c * dims[2] * dims[3]
	batch := max(d.Batch, 1)
	tiling := d.Tiling
	switch {
	case tiling == Tiling{}:
		tiling = DefaultDecodeTiling.ForCompression(d.Model.cfg.SpatialCompression())
	case tiling.Tile < 0:
		tiling = Tiling{}
	}
	out := make([]image.Image, 0, B)
	for start := 0; start < B; start += batch {
		n := min(batch, B-start)
		chunk := tensors.FromFlatDataAndDimensions(append([]float32(nil), flat[start*per:(start+n)*per]...), n, c, dims[2], dims[3])
		chunk, err = scale(chunk, d.Model.cfg.ScalingFactor, true)
		if err != nil {
			return nil, err
		}
		x, err := d.Model.DecodeTiled(chunk, tiling)
		if err != nil {
			return nil, fmt.Errorf("DC-AE image decoder: rows [%d, %d): %w", start, start+n, err)
		}
		imgs, err := ToImages(x)
		_ = x.FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("DC-AE image decoder: %w", err)
		}
		for _, im := range imgs {
			out = append(out, im)
		}
		if d.Progress != nil {
			d.Progress(len(out), B)
		}
	}
	return out, nil
}
