// Package vae is the DC-AE autoencoder (Deep Compression Autoencoder, arXiv 2410.10733) that
// SANA and SANA-Sprint work in: diffusers' AutoencoderDC encoder and decoder as GoMLX graphs,
// built from a config.json so that every released DC-AE loads (f32c32-sana-1.0/1.1, the
// f32c32/f64c128/f128c512 "in" and "mix" models), with strict loading of diffusers folders,
// tiled and chunked decoding, and the decode.Decoder that turns a SANA model's latents into
// images.
//
// # The network (diffusers' names)
//
//	Encoder: conv_in → per stage i: blocks_i, DCDownBlock2d → conv_out (+ channel-group mean shortcut)
//	Decoder: conv_in (+ channel repeat shortcut) → per stage from the last: DCUpBlock2d, blocks_i
//	         → norm_out (RMSNorm) → conv_act (ReLU) → conv_out
//
// A stage's blocks are ResBlock (x + norm(conv₂(act(conv₁(x))))) or EfficientViTBlock
// (multi-scale ReLU linear attention with its residual, then GLUMBConv). The sampling blocks add
// a space-to-depth shortcut: the pixel-unshuffled input averaged over channel groups (down), or the
// input's channels repeated and pixel-shuffled (up). Norms are RMSNorm over channels with weight
// and bias, or BatchNorm2d in evaluation mode where decoder_norm_types says batch_norm (the
// in/mix decoders' first stages). The files hold: config.go (config.json), presets.go (the
// released configs), params.go (the layer plan and the table of parameter names and shapes that
// the loader and the forward both walk), conv.go, norm.go, blocks.go, attention.go, encoder.go,
// decoder.go (graphs), weights.go (loading, saving, random weights), model.go (a compiled Model),
// tile.go (tiling), images.go and imagedecoder.go (pixels, decode.Decoder).
//
// Graphs run channels-last in float32 (bfloat16, float16 and float64 checkpoints are converted on
// load). Convolutions are written as matrix products of shifted blocks, which the Go backend runs
// with its SIMD kernels. Encode and Decode follow diffusers and apply no scaling; SANA trains on
// Encode(x)·scaling_factor and decodes Decode(z/scaling_factor): EncodeScaled, DecodeScaled and
// ImageDecoder apply it.
//
// It is not a trainer (no gradients are needed or checked here), not a downloader (weights come
// from a local diffusers folder; a missing one is an error saying what to get), and it does not
// read or write datasets (package prepare does).
package vae
