// Package clip implements the CLIP score as SANA and torchmetrics compute it (reference notes §2):
//
//   - OpenAI CLIP's text and vision towers (ViT-L/14, ViT-B/32, or any size read from the weights) as
//     GoMLX graphs, with weights from a local Hugging Face CLIPModel safetensors file;
//   - the byte-level BPE tokenizer (77 tokens, truncation keeping EOT last), from vocab.json+merges.txt,
//     tokenizer.json or OpenAI's bpe_simple_vocab_16e6.txt.gz;
//   - CLIP's preprocessing (PIL bicubic shorter-side resize to 224, centre crop with round-half-even,
//     CLIP mean/std);
//   - the scores: SANA's exp(logit_scale)·mean cosine and torchmetrics' max(100·mean cosine, 0).
//
// It is not open_clip, does not run in fp16 (SANA's CUDA runs do, so expect differences in the last
// digits), and its text cleaning only approximates ftfy (NFC, curly quotes, ligatures, full-width ASCII).
package clip
