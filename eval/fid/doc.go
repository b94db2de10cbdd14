// Package fid computes the Fréchet Inception Distance the way pytorch-fid does it for SANA's MJHQ-30K
// numbers (reference notes §1):
//
//   - the FID Inception (torchvision Inception3 with the FID variants of blocks A, C and E, the max pool
//     in Mixed_7c's branch_pool, BatchNorm eps 1e-3) built as a GoMLX graph, weights read from a local
//     safetensors copy of pt_inception-2015-12-05-6726825d.pth (see WeightsHelp);
//   - the preprocessing (see Preprocessing below): torchvision Resize(img_size)+CenterCrop on the decoded
//     image, then bilinear resize to 299×299 without antialias and 2x−1;
//   - 2048-d pool3 features, mean and N−1 covariance accumulated in float64;
//   - statistics in pytorch-fid's .npz layout (mu, sigma), readable and writable;
//   - the Fréchet distance from symmetric factorisations (gonum), with pytorch-fid's 1e-6 fallback.
//
// It is not clean-fid or torchmetrics' FID (different resizers and normalisation), it does not read the
// .pth pickle (convert it once, WeightsHelp shows how), and it does not download anything.
//
// # Preprocessing
//
// Every image is decoded to 8-bit RGB (JPEG chroma upsampled as libjpeg does, as PIL returns it) and
// then goes through one of two protocols, chosen by the image size N (eval.image_size, flag
// --image-size of `sprint eval`):
//
//   - N = 1024, the default: SANA's MJHQ-30K protocol. SANA's tools/metrics/pytorch-fid/compute_fid.py
//     applies torchvision's Resize(img_size) and CenterCrop(img_size) to the PIL image before
//     ToTensor; here that is the shorter side resized to N with PIL's antialiased bilinear filter in
//     its 8-bit arithmetic (nothing is resampled when the shorter side already is N), then the
//     central N×N crop (offsets rounded half to even). 1024 is the img_size of the 1024px models;
//     SANA's shell script defaults to 512, which --image-size 512 reproduces.
//   - N = 0: plain pytorch-fid (python -m pytorch_fid DIR1 DIR2), whose dataset only converts each
//     image to RGB and to a tensor: images reach the network at their own size.
//
// In both, the network input is then built as pytorch-fid's InceptionV3(resize_input=True,
// normalize_input=True) does: pixel/255, F.interpolate to 299×299 (bilinear, align_corners=False,
// no antialias), then 2x−1. So for 1024×1024 images the two protocols give identical features; they
// differ for any other size, where SANA's first resizes the shorter side to N (down or up) and crops
// the longer one. Statistics are only comparable when made with the same N: the MJHQ job keys its
// caches by it (pt_inception-<N>px), while .npz files written by `sprint eval fid-stats` do not
// record it.
//
// Performance notes: convolutions are written as im2col gathers plus one matrix product, and the pools
// as gathered windows, because the pure-Go backend's direct convolution and reduce-window are an order
// of magnitude slower. On an XLA backend the same graph runs unchanged.
package fid
