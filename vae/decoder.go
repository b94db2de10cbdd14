package vae

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// Decoder is AutoencoderDC's decoder: latents z (B, latent_channels, h, w), unscaled (diffusers'
// decode(z).sample input), to images (B, in_channels, f·h, f·w), nominally in [−1, 1] (not clamped):
//
//	x = conv_in(z) [+ repeat_interleave(z)]   3×3 conv, in shortcut duplicating channels
//	per stage i from the last: x = up_i(x); x = blocks_i(x)   (DCUpBlock2d, ResBlock / EfficientViTBlock ×layers_i)
//	x = conv_act(norm_out(x))                 RMSNorm with bias, then decoder_conv_act_fn (ReLU)
//	image = conv_out(x)                       3×3 conv, or conv + depth-to-space when stage 0 has no layers
//
// The graph runs channels-last in float32.
func Decoder(c Config, w Weights, z *Node) *Node {
	if z.Rank() != 4 || z.Shape().Dimensions[1] != c.LatentChannels {
		panic(fmt.Errorf("vae.Decoder: want latents (B, %d, h, w), got %s", c.LatentChannels, z.Shape()))
	}
	h := TransposeAllAxes(ConvertDType(z, dtypes.Float32), 0, 2, 3, 1)
	for _, l := range decoderPlan(c) {
		h = runLayer(c, w, l, h)
	}
	return TransposeAllAxes(h, 0, 3, 1, 2)
}
