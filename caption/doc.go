// Package caption turns prompts into the caption embeddings SANA and SANA-Sprint condition
// on, exactly as the reference (NVlabs/Sana train_scripts/train_scm_ladd.py, the diffusers
// SanaPipeline/SanaSprintPipeline) prepares them for Gemma-2-2B-IT:
//
//  1. The complex human instruction (Config.ChiPrompt, SANA's eight lines joined with "\n")
//     is prepended to each prompt as is: text = instruction + prompt.
//  2. n_chi = len(tokenizer.encode(instruction)) counts the instruction's tokens with <bos>;
//     the padded length is T = n_chi + model_max_length − 2 (the "magic 2" are <bos> and the
//     instruction's trailing "▁", which fuses with the prompt's first word).
//  3. Each text is tokenized with <bos>, truncated to T tokens on the right and padded on the
//     right with <pad> to T, with attention mask 1 for tokens and 0 for padding.
//  4. Gemma's last hidden state (after the final norm) is computed for all T positions.
//  5. Positions [0] + [T−L+1, …, T−1] are kept (L = model_max_length = 300): <bos> and the
//     last L−1 positions, where the prompt and its padding sit; the mask is selected the same
//     way. Embeddings (n, L, D) and mask (n, L) are returned as float32.
//
// Without an instruction T = L and the selection keeps everything. The null caption of
// classifier-free guidance is "" tokenized without the instruction, padded to L: <bos> then
// L−1 <pad>, mask (1, 0, …, 0), and its embedding is all L positions (what the reference
// stores as the teacher's null embedding, see Encoder.EncodeNull).
//
// It does not lowercase, strip or clean prompts: the training script passes captions
// unchanged (only the diffusers pipelines lowercase and strip at inference).
//
// It is not the text encoder itself (package gemma) and not dataset preparation: Encoder.Encode
// is the one call a data-preparation step needs.
package caption
