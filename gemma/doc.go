// Package gemma is the Gemma-2 text encoder SANA conditions on (google/gemma-2-2b-it, hidden
// size 2304): the decoder-only transformer of Hugging Face's Gemma2Model read from a local
// folder (config.json, model.safetensors or a sharded index, tokenizer.model), and Gemma's
// SentencePiece tokenizer.
//
// The network, written as GoMLX graph functions of named weights (Forward), is:
//
//	h₀ = E[ids] · cast(√D)                                    embedding scaled by √hidden
//	per layer l:
//	  a = o_proj(Attn(RoPE(q_proj(n)), RoPE(k_proj(n)), v_proj(n))),  n = RMSNorm₁(h)
//	  h = h + RMSNorm₂(a)                                     post-attention norm
//	  h = h + RMSNorm₄(down(gelu_tanh(gate(m)) ⊙ up(m))),      m = RMSNorm₃(h)
//	out = RMSNorm_final(h)                                    the last hidden state SANA uses
//
// with RMSNorm(x) = x/√(mean(x²)+ε)·(1+w) computed in float32, grouped-query attention
// (num_key_value_heads shared by num_attention_heads/num_key_value_heads query heads each),
// logits scaled by query_pre_attn_scalar^−½ and soft-capped c·tanh(s/c) before the mask,
// a causal + padding mask, and a sliding window on the layers config.json marks
// "sliding_attention" (every even layer by default). It follows transformers' eager
// attention path, padding included: padded positions get outputs too (they attend to the
// real tokens before them), which SANA keeps and masks downstream. Options.NoSoftCap turns
// the soft-cap off, reproducing embeddings made by attention kernels that skip it (SDPA,
// the default in some transformers releases).
//
// Params holds the weights under Hugging Face's names (model.embed_tokens.weight,
// model.layers.N.…, model.norm.weight); ParamSpecs is the one table of names and shapes that
// the loader checks strictly and the forward reads. Weights may be float32 or bfloat16; with
// bfloat16 the matrix products run in bfloat16 and the norms, rotary embedding and attention
// softmax in float32.
//
// Tokenizer wraps the pure-Go SentencePiece BPE encoder that go-huggingface uses
// (github.com/eliben/go-sentencepiece), after checking the model proto for what that encoder
// supports, and adds what Hugging Face's Gemma tokenizer does on top (BOS, control tokens
// written in the text); see tokenizer.go.
//
// It is not SANA's caption handling (the instruction prefix, the 300-token selection, the
// null caption: package caption), not a language model (no lm_head, no sampling, no KV
// cache) and it never downloads anything.
package gemma
