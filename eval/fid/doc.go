// Package fid computes the Fréchet Inception Distance the way pytorch-fid does it for SANA's MJHQ-30K
// numbers (reference notes §1):
//
//   - the FID Inception (torchvision Inception3 with the FID variants of blocks A, C and E, the max pool
//     in Mixed_7c's branch_pool, BatchNorm eps 1e-3) built as a GoMLX graph, weights read from a local
//     safetensors copy of pt_inception-2015-12-05-6726825d.pth (see WeightsHelp);
//   - the preprocessing: torchvision Resize(img_size)+CenterCrop on the decoded image, then bilinear
//     resize to 299×299 without antialias and 2x−1;
//   - 2048-d pool3 features, mean and N−1 covariance accumulated in float64;
//   - statistics in pytorch-fid's .npz layout (mu, sigma), readable and writable;
//   - the Fréchet distance from symmetric factorisations (gonum), with pytorch-fid's 1e-6 fallback.
//
// It is not clean-fid or torchmetrics' FID (different resizers and normalisation), it does not read the
// .pth pickle (convert it once, WeightsHelp shows how), and it does not download anything.
//
// Performance notes: convolutions are written as im2col gathers plus one matrix product, and the pools
// as gathered windows, because the pure-Go backend's direct convolution and reduce-window are an order
// of magnitude slower. On an XLA backend the same graph runs unchanged.
package fid
