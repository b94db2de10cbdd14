// Package imaging holds the pixel pipeline the metrics depend on, written to match the Python tools
// the reference numbers come from:
//
//   - decoding to 8-bit RGB, with JPEG chroma upsampled the way libjpeg(-turbo) does by default
//     ("fancy" triangle upsampling and its fixed-point YCbCr conversion), which is what PIL returns;
//   - PIL's antialiased resampling (bilinear and bicubic), in its 8-bit fixed-point arithmetic, which is
//     what torchvision's Resize does on PIL images;
//   - torchvision's Resize(int) (shorter side) and CenterCrop (offsets rounded half to even);
//   - PyTorch's F.interpolate bilinear with align_corners=False and no antialias, on float images.
//
// It is not a general image library: no colour management, no EXIF orientation, no alpha compositing
// beyond dropping the alpha channel (as PIL's convert("RGB") does). Decoded pixels are close to PIL's but
// not bit-identical, because Go's JPEG decoder uses a different inverse DCT than libjpeg.
package imaging
