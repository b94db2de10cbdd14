// Package clip implements the CLIP score as SANA and torchmetrics compute it (reference notes §2):
//
//   - OpenAI CLIP's text and vision towers (ViT-L/14, ViT-B/32, or any size read from the weights) as
//     GoMLX graphs, with weights from a local Hugging Face CLIPModel safetensors file;
//   - the byte-level BPE tokenizer (77 tokens, truncation keeping EOT last), from vocab.json+merges.txt,
//     tokenizer.json or OpenAI's bpe_simple_vocab_16e6.txt.gz, after CLIP's text cleaning (Clean):
//     ftfy 6.3.1's fix_text with its defaults (mojibake repair with ftfy's badness heuristic, HTML
//     entities, control characters and terminal escapes, quotes, ligatures, character width, line
//     breaks, NFC), Python's html.unescape twice, whitespace collapsing and Python's str.lower;
//   - CLIP's preprocessing (PIL bicubic shorter-side resize to 224, centre crop with round-half-even,
//     CLIP mean/std);
//   - the scores: SANA's exp(logit_scale)·mean cosine and torchmetrics' max(100·mean cosine, 0).
//
// It is not open_clip, and does not run in fp16 (SANA's CUDA runs do, so expect differences in the
// last digits). The text cleaning follows the Unicode version of Go's tables (unicode, x/text), so
// characters newer than a given Python's Unicode data may lower-case or normalise differently.
package clip
