// Package eval is the root of sprint's evaluation: its Config is the `eval:` section of a sprint
// config (metric weights, data folders, batch size, cache and output folders). The metrics and jobs
// live in sub-packages:
//
//   - eval/fid: FID as pytorch-fid computes it (FID Inception in GoMLX, statistics, Fréchet distance);
//   - eval/clip: CLIP ViT towers, tokenizer and the CLIP score (SANA's and torchmetrics');
//   - eval/geneval: GenEval's folder layout, detection rules and summary;
//   - eval/mjhq: the MJHQ-30K job (overall and per-category FID and CLIP score, resumable);
//   - eval/imaging and eval/npy: the pixel pipeline and NumPy files the metrics rely on.
//
// This package holds configuration only: no metric code, no I/O.
package eval
