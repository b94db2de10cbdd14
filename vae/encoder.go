package vae

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// Encoder is AutoencoderDC's encoder: images x (B, in_channels, H, W), in [−1, 1] as diffusers
// expects them, to latents (B, latent_channels, H/f, W/f), f = SpatialCompression, without the
// scaling factor (diffusers' encode(x).latent):
//
//	h = conv_in(x)                      3×3 conv, or a conv + space-to-depth block when stage 0 has no layers
//	per stage i: h = blocks_i(h); h = down_i(h)   (ResBlock / EfficientViTBlock ×layers_i, DCDownBlock2d)
//	z = conv_out(h) [+ groupMean(h)]    3×3 conv, out shortcut averaging channel groups
//
// H and W must be multiples of f. The graph runs channels-last in float32.
func Encoder(c Config, w Weights, x *Node) *Node {
	if x.Rank() != 4 {
		panic(fmt.Errorf("vae.Encoder: want images (B, C, H, W), got %s", x.Shape()))
	}
	d := x.Shape().Dimensions
	f := c.SpatialCompression()
	if d[1] != c.InChannels || d[2]%f != 0 || d[3]%f != 0 {
		panic(fmt.Errorf("vae.Encoder: images %v: want %d channels and sides that are multiples of %d", d, c.InChannels, f))
	}
	h := TransposeAllAxes(ConvertDType(x, dtypes.Float32), 0, 2, 3, 1)
	for _, l := range encoderPlan(c) {
		h = runLayer(c, w, l, h)
	}
	return TransposeAllAxes(h, 0, 3, 1, 2)
}
